// Clean-up after a lab process that ends without closing its data path: an 'exit' handler for the ways
// Node still runs one (a normal exit, process.exit from a signal handler), and a detached watchdog process
// for SIGKILL, which runs none: it polls the lab's pid and, once it is gone, kills what still runs in the
// lab's namespaces and deletes them.

import { spawn } from 'node:child_process';

// Plain CommonJS run with `node -e`: the watchdog must not depend on the lab's build.
const WATCHDOG = `
const { execFileSync } = require('node:child_process');
const [pid, prefix] = process.argv.slice(1);
const alive = () => { try { process.kill(Number(pid), 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const timer = setInterval(() => {
  if (alive()) return;
  clearInterval(timer);
  const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\\n').map((l) => l.split(' ')[0]);
  for (const name of names.filter((n) => n && n.startsWith(prefix))) {
    try { execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\\n').filter(Boolean)
      .forEach((p) => { try { process.kill(Number(p), 'SIGKILL'); } catch {} }); } catch {}
    try { execFileSync('ip', ['netns', 'delete', name]); } catch {}
  }
}, 250);
`;

let guarded = false;

/**
 * Once per process: run `onExit` when this process exits, and start the watchdog that deletes the
 * namespaces named `prefix…` once this process is gone.
 */
export function guardThisProcess(prefix: string, onExit: () => void): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', onExit);
  const watchdog = spawn(process.execPath, ['-e', WATCHDOG, String(process.pid), prefix], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
}
