// The relay's options, validated up front with messages that say what to do.

import type { IncomingMessage } from 'node:http';
import { invalidOption } from './errors.js';
import { redactedUrl } from './redacted-url.js';

export interface RelayOptions {
  /**
   * The gateway's URL (its ClusterIP Service), ws: or wss:. The client's path and query string are appended
   * to its path: a client of `/chat?room=1` reaches `<upstream path>/chat?room=1`.
   */
  upstream: string;
  /** Request headers passed upstream (lower case). Default: cookie, authorization, user-agent, origin. */
  forwardHeaders?: string[];
  /**
   * Server→client duplicates from a move's overlap are dropped by id: a JSON field of text messages
   * (`idField: 'id'`), or a function of the message. Without one, the messages the old and the new gateway
   * both sent during a move reach the client twice.
   */
  idField?: string;
  messageId?: (data: string | Buffer) => string | number | undefined;
  /** Bytes waiting for a slow client, or for the upstream, before the relay acts (see README). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** How long an upstream may take to open before the client gets 504. Default 10000. */
  upstreamTimeoutMs?: number;
  /** Largest message accepted from a client (ws maxPayload). Default 1 MiB. */
  maxPayload?: number;
  /** A prom-client Registry for the baton_relay_* metrics (the one drain-core serves). Default: none. */
  registry?: unknown;
  /**
   * X-Forwarded-For upstream: 'append' the client's address to what the client sent (the relay behind a proxy
   * that sets the header), or 'replace' it with the client's address alone (the relay is the first hop, so
   * whatever the client sent is its own claim). Default 'append'.
   */
  forwardedFor?: 'append' | 'replace';
}

export interface ResolvedRelayOptions {
  readonly upstream: URL;
  readonly forwardHeaders: readonly string[];
  readonly messageId: ((data: string | Buffer) => string | number | undefined) | undefined;
  readonly maxBufferedBytes: number;
  readonly upstreamTimeoutMs: number;
  readonly maxPayload: number;
  readonly registry: unknown;
  readonly forwardedFor: 'append' | 'replace';
}

export const DEFAULT_FORWARD_HEADERS = ['cookie', 'authorization', 'user-agent', 'origin'] as const;

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalidOption('range', `${name} must be a positive integer; got ${JSON.stringify(value)}.`);
  }
  return value;
}

export function resolveRelayOptions(options: RelayOptions): ResolvedRelayOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption('type', 'Relay options must be an object with at least { upstream }.');
  }
  let upstream: URL;
  try {
    upstream = new URL(String(options.upstream));
  } catch {
    throw invalidOption(
      'type',
      `upstream must be a ws:// or wss:// URL; got ${redactedUrl(String(options.upstream))}.`,
    );
  }
  if (upstream.protocol !== 'ws:' && upstream.protocol !== 'wss:') {
    throw invalidOption('type', `upstream must be a ws:// or wss:// URL; got ${redactedUrl(upstream)}.`);
  }
  const headers = options.forwardHeaders ?? [...DEFAULT_FORWARD_HEADERS];
  if (!Array.isArray(headers) || headers.some((h) => typeof h !== 'string' || !/^[a-z0-9-]+$/i.test(h))) {
    throw invalidOption('type', 'forwardHeaders must be an array of header names, e.g. ["cookie", "authorization"].');
  }
  const reserved = headers.find((h) => /^(sec-websocket-|connection$|upgrade$|host$)/i.test(h));
  if (reserved) {
    throw invalidOption('range', `forwardHeaders cannot include ${reserved}: the upstream handshake sets it.`);
  }
  if (options.idField !== undefined && options.messageId !== undefined) {
    throw invalidOption('type', 'Give idField or messageId, not both.');
  }
  if (options.idField !== undefined && (typeof options.idField !== 'string' || options.idField === '')) {
    throw invalidOption('type', 'idField must be the name of a JSON field, e.g. "id".');
  }
  if (options.messageId !== undefined && typeof options.messageId !== 'function') {
    throw invalidOption('type', 'messageId must be a function (data) => id | undefined.');
  }
  return {
    upstream,
    forwardHeaders: headers.map((h) => h.toLowerCase()),
    messageId: options.messageId ?? (options.idField ? jsonField(options.idField) : undefined),
    maxBufferedBytes: positiveInteger('maxBufferedBytes', options.maxBufferedBytes, 1024 * 1024),
    upstreamTimeoutMs: positiveInteger('upstreamTimeoutMs', options.upstreamTimeoutMs, 10_000),
    maxPayload: positiveInteger('maxPayload', options.maxPayload, 1024 * 1024),
    registry: options.registry,
    forwardedFor: forwardedForOption(options.forwardedFor),
  };
}

function forwardedForOption(value: unknown): 'append' | 'replace' {
  if (value === undefined) return 'append';
  if (value === 'append' || value === 'replace') return value;
  throw invalidOption('type', `forwardedFor must be 'append' or 'replace'; got ${JSON.stringify(value)}.`);
}

/** The id of a text message that is a JSON object with that field (string or number); else none. */
function jsonField(field: string): (data: string | Buffer) => string | number | undefined {
  return (data) => {
    if (typeof data !== 'string' || data.charCodeAt(0) !== 123 /* { */) return undefined;
    try {
      const id = (JSON.parse(data) as Record<string, unknown>)[field];
      return typeof id === 'string' || typeof id === 'number' ? id : undefined;
    } catch {
      return undefined;
    }
  };
}

/** The upstream URL for a client's request: the upstream's path joined with the client's path and query. */
export function upstreamUrlFor(upstream: URL, request: IncomingMessage): string {
  const target = new URL(upstream);
  const incoming = new URL(request.url ?? '/', 'http://relay.invalid');
  const base = target.pathname.endsWith('/') ? target.pathname.slice(0, -1) : target.pathname;
  target.pathname = `${base}${incoming.pathname}`;
  target.search = incoming.search;
  return target.toString();
}
