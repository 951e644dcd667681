// Which version and pod served a connection: the Baton-Version / Baton-Pod headers of the upgrade response
// (drain-core's `identity` option), another header the gateway sets (`header:NAME`), or a field of the first
// message the server sends (`json:PATH`) for gateways without Baton.

import type { IncomingHttpHeaders } from 'node:http';

export type VersionSource = { kind: 'headers' } | { kind: 'header'; name: string } | { kind: 'json'; path: string[] };

export const UNKNOWN = '?';

/** `--version-from` as given on the command line; undefined when it is not one of the three forms. */
export function parseVersionSource(text: string): VersionSource | undefined {
  if (text === 'headers') return { kind: 'headers' };
  const header = /^header:([!#$%&'*+.^_`|~0-9A-Za-z-]+)$/.exec(text);
  if (header) return { kind: 'header', name: (header[1] as string).toLowerCase() };
  const json = /^json:([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)$/.exec(text);
  if (json) return { kind: 'json', path: (json[1] as string).split('.') };
  return undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === '' ? undefined : text.slice(0, 253);
}

/** Version and pod from a response's headers (the version only for `header:NAME`; json: from a message). */
export function fromHeaders(source: VersionSource, headers: IncomingHttpHeaders): { version: string; pod: string } {
  const pod = first(headers['baton-pod']) ?? UNKNOWN;
  if (source.kind === 'header') return { version: first(headers[source.name]) ?? UNKNOWN, pod };
  if (source.kind === 'headers') return { version: first(headers['baton-version']) ?? UNKNOWN, pod };
  return { version: UNKNOWN, pod };
}

/** The version in a server message (json:PATH), or undefined when this message does not carry it. */
export function fromMessage(path: string[], data: unknown): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(String(data));
  } catch {
    return undefined;
  }
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === 'string' || typeof value === 'number' ? String(value).slice(0, 253) : undefined;
}
