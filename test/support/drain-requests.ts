// Asking an admin server for a drain as the real callers do: the preStop hook (baton-drain's request, with the
// container's proof it reads from the file the admin server wrote) and an operator (the bearer admin token).

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The file the admin server on `port` writes its proof to (no BATON_ADMIN_PROOF_FILE set in tests). */
export function proofFile(port: number): string {
  return join(tmpdir(), `baton-admin-${port}.proof`);
}

/** POST /drain with the container's proof, as `baton-drain` sends it: a terminating drain. */
export function preStopDrain(adminUrl: string): Promise<Response> {
  const port = Number(new URL(adminUrl).port);
  const proof = readFileSync(proofFile(port), 'utf8').trim();
  return fetch(`${adminUrl}/drain`, { method: 'POST', headers: { 'baton-drain-proof': proof } });
}

/** POST (start) or DELETE (cancel) /drain with the admin token: a manual drain. */
export function manualDrain(adminUrl: string, token: string, method: 'POST' | 'DELETE' = 'POST'): Promise<Response> {
  return fetch(`${adminUrl}/drain`, { method, headers: { authorization: `Bearer ${token}` } });
}
