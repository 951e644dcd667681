// The container's own proof for a terminating drain. A loopback peer is not the container: a mesh sidecar
// delivers every inbound request from 127.0.0.6 (or 127.0.0.1), an SSRF in the app or a cross-site request from
// a browser on the node reaches 127.0.0.1 too. So each start of the admin server draws a random secret and
// writes it to a file only this container can read (its own /tmp, mode 0600); `baton-drain`, run in the
// container by the preStop hook, reads it and sends it. Whoever can read that file could also send the process
// a SIGTERM.

import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The request header that carries the proof. */
export const PROOF_HEADER = 'baton-drain-proof';

/** Where the admin server on `port` keeps its proof: BATON_ADMIN_PROOF_FILE, else the container's tmpdir. */
export function proofPath(port: number, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.BATON_ADMIN_PROOF_FILE || join(tmpdir(), `baton-admin-${port}.proof`);
}

/** Draw a new proof and write it to `path` (never through a link left there), readable by this user only. */
export function writeProof(path: string): string {
  const proof = randomBytes(32).toString('base64url');
  // A file or link left at the path (a previous process, anything else) is replaced, not written through.
  rmSync(path, { force: true });
  writeFileSync(path, proof, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return proof;
}

export function readProof(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/** Remove the proof, if it is still ours (a newer process on the same port may have replaced it). */
export function removeProof(path: string, proof: string): void {
  try {
    if (readProof(path) === proof) rmSync(path, { force: true });
  } catch {
    // Gone already.
  }
}
