// The "admin" option: the admin server's port, host, endpoint paths and the drain token, validated up front.
// The token's messages never quote it.

import { type AdminPaths, DEFAULT_ADMIN_PATHS } from './admin-server.js';
import { describe, invalid, range } from './option-checks.js';

export interface AdminOptions {
  /** Port of the admin server. 0 picks a free one (see `adminAddress()`). Required. */
  port: number;
  /**
   * Interface to bind. Default: dual-stack '::' (falling back to '0.0.0.0' where IPv6 is off), because the
   * kubelet probes the pod IP, IPv4 or IPv6. Never expose this port in a Service.
   */
  host?: string;
  /**
   * Bearer token that lets a peer other than loopback start a drain (`Authorization: Bearer <token>`).
   * Default none: only loopback may (the preStop hook runs `baton-drain` inside the container). At least 32
   * characters, random; placeholder-looking values are refused.
   */
  token?: string;
  /** Override endpoint paths. Defaults: /readyz, /livez, /drain, /metrics. */
  paths?: Partial<AdminPaths>;
}

/** The admin server's options once checked: every path set, the token strong enough. */
export interface ResolvedAdminOptions {
  port: number;
  host: string | undefined;
  token: string | undefined;
  paths: AdminPaths;
}

const KNOWN_ADMIN_KEYS = { port: true, host: true, token: true, paths: true } as const satisfies Record<
  keyof AdminOptions,
  true
>;

export function adminOption(value: unknown): ResolvedAdminOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw invalid(
      `The "admin" option must be an object such as { port: 9090 }, or false; received ${describe(value)}.`,
    );
  }
  for (const key of Object.keys(value)) {
    // `{ admin: { prot: 9090 } }` or `{ admin: { tokne } }` must not silently mean something else.
    if (!(key in KNOWN_ADMIN_KEYS)) {
      throw invalid(`Unknown admin option "${key}". Known admin options: ${Object.keys(KNOWN_ADMIN_KEYS).join(', ')}.`);
    }
  }
  const { port, host, paths, token } = value as AdminOptions;
  if (typeof port !== 'number' || !Number.isInteger(port)) {
    throw invalid(`The "admin.port" option must be an integer port number; received ${describe(port)}.`);
  }
  if (port < 0 || port > 65_535) throw range(`The "admin.port" option must be between 0 and 65535; received ${port}.`);
  if (host !== undefined && (typeof host !== 'string' || host.length === 0)) {
    throw invalid(
      `The "admin.host" option must be a non-empty string such as '0.0.0.0' or '127.0.0.1'; received ${describe(host)}.`,
    );
  }
  const resolvedPaths: AdminPaths = { ...DEFAULT_ADMIN_PATHS };
  if (paths !== undefined) {
    if (typeof paths !== 'object' || paths === null)
      throw invalid(`The "admin.paths" option must be an object; received ${describe(paths)}.`);
    for (const [name, value] of Object.entries(paths)) {
      if (!(name in DEFAULT_ADMIN_PATHS)) {
        throw invalid(`Unknown admin path "${name}". Known: ${Object.keys(DEFAULT_ADMIN_PATHS).join(', ')}.`);
      }
      if (typeof value !== 'string' || !value.startsWith('/')) {
        throw invalid(
          `The "admin.paths.${name}" option must be a path starting with '/'; received ${describe(value)}.`,
        );
      }
      resolvedPaths[name as keyof AdminPaths] = value;
    }
    if (new Set(Object.values(resolvedPaths)).size !== 4)
      throw invalid('The admin paths must be four different paths.');
  }
  return { port, host, token: adminToken(token), paths: resolvedPaths };
}

/**
 * Text that people paste before they generate a real secret. Words of six letters or more only (and whole
 * values): a generated base64 token spells a shorter word now and then ("todo" in 1 of ~40,000).
 */
const PLACEHOLDER =
  /replace[-_ ]?me|change[-_ ]?(me|it)|placeholder|example|sample|insecure|generate|test[-_ ]?only|your[-_ ]?(token|secret)|passw(or|0)rd|^x+$|^(test|secret|token|password|todo)$/i;

function adminToken(token: unknown): string | undefined {
  if (token === undefined) return undefined;
  // The messages never quote the token: it is a secret.
  if (typeof token !== 'string') throw invalid(`The "admin.token" option must be a string; received ${typeof token}.`);
  if (token.length < 32 || new Set(token).size < 8 || PLACEHOLDER.test(token) || repeatsPattern(token)) {
    throw range(
      'The "admin.token" option looks guessable (shorter than 32 characters, too few distinct characters, a repeated pattern, or a placeholder). Generate one, e.g. `openssl rand -base64 32`.',
    );
  }
  return token;
}

/** Whether `text` is a shorter piece repeated (abcdefgh × 4): no generated token is. */
function repeatsPattern(text: string): boolean {
  for (let period = 1; period <= text.length / 2; period++) {
    if (text.slice(period) === text.slice(0, text.length - period)) return true;
  }
  return false;
}
