// The "identity" option: which pod and which version served a connection, as two response headers of the
// upgrade (Baton-Pod, Baton-Version), so a probe outside the cluster (@baton/probe) can tell which version
// took each reconnect. Off by default: the headers reveal the pod's name and the release to every client.

import type { OutgoingHttpHeaders } from 'node:http';
import { describe, invalid } from './option-checks.js';

export interface IdentityOptions {
  /** The pod's name (e.g. the POD_NAME from the Downward API). Sent as Baton-Pod. */
  pod?: string;
  /** The app's version (e.g. the image tag). Sent as Baton-Version. */
  version?: string;
}

export const IDENTITY_HEADERS = { pod: 'Baton-Pod', version: 'Baton-Version' } as const;

// A header value the HTTP grammar takes without quoting (visible ASCII, no separators that need it) and short
// enough to be a name: anything else is a mistake (a newline would be a header injection).
const VALUE = /^[\x21-\x7e]{1,253}$/;

/** The identity headers to send on every upgrade response (101) and refusal (503); empty when off. */
export function identityOption(value: unknown): OutgoingHttpHeaders {
  if (value === undefined || value === false) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      `The "identity" option must be an object such as { pod: process.env.POD_NAME, version: '1.4.2' }, or false; received ${describe(value)}.`,
    );
  }
  const headers: OutgoingHttpHeaders = {};
  for (const [key, raw] of Object.entries(value)) {
    if (key !== 'pod' && key !== 'version') {
      throw invalid(`Unknown identity option "${key}". Known: pod, version.`);
    }
    if (raw === undefined) continue;
    if (typeof raw !== 'string' || !VALUE.test(raw)) {
      throw invalid(
        `The "identity.${key}" option must be 1 to 253 visible ASCII characters (a header value); received ${describe(raw)}.`,
      );
    }
    headers[IDENTITY_HEADERS[key]] = raw;
  }
  return headers;
}
