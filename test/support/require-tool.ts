// A tool some tests need (root, network namespaces, iptables, conntrack…). Under CI every tool is installed
// (./scripts/setup.sh --browser), so a missing one fails the file instead of skipping it green; elsewhere the
// tests that need it are skipped, and the reason is printed.

/** True when `available`; false (skip) when not, outside CI; throws under CI. */
export function requireTool(what: string, available: boolean | (() => boolean)): boolean {
  const present = typeof available === 'function' ? available() : available;
  if (present) return true;
  const fix = 'run ./scripts/setup.sh --browser as root';
  if (process.env.CI) throw new Error(`${what} is required under CI and is missing here: ${fix}`);
  console.warn(`skipping the tests that need ${what}: missing here (${fix})`);
  return false;
}
