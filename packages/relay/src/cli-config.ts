// The relay's command line and environment: each flag has an env twin (flags win), and the relay's own drain
// reads the BATON_* contract through drain-core's parser (drainOptionsFromEnv), the one the example gateways
// use: the same variables, the same defaults, the same refusals. A bad value stops start-up naming it.

import { parseArgs } from 'node:util';
import { type DrainEnvironment, drainOptionsFromEnv } from '@baton/drain-core';
import { invalidOption } from './errors.js';
import type { RelayOptions } from './options.js';

export interface RelayCliConfig {
  host: string;
  port: number;
  relay: RelayOptions;
  /**
   * The relay's own drain, from the BATON_* contract (its admin port defaults to 9091). Its rolloutHold
   * 'kubernetes' asks for @baton/kubernetes, installed beside the relay; the handoff variables are not read:
   * the relay's clients are plain.
   */
  drain: DrainEnvironment;
}

export const USAGE = `baton-relay: carry plain WebSocket clients to a Baton gateway, following its reconnect hints.

  --listen PORT           public port (env PORT, default 8080)
  --host HOST             public address (env HOST, default 0.0.0.0)
  --upstream URL          the gateway, ws:// or wss:// (env BATON_RELAY_UPSTREAM; required)
  --admin-port PORT       readiness, drain and /metrics (env ADMIN_PORT, default 9091)
  --id-field NAME         JSON field that identifies a server message, to drop a move's duplicates
                          (env BATON_RELAY_ID_FIELD)
  --forward-headers LIST  request headers passed upstream (env BATON_RELAY_FORWARD_HEADERS,
                          default cookie,authorization,user-agent,origin)
  --max-buffered-bytes N  per connection and direction (env BATON_RELAY_MAX_BUFFERED_BYTES, default 1048576)
  --forwarded-for MODE    append (default: behind a proxy that sets X-Forwarded-For) or replace (the relay is
                          the first hop: the client's own header is dropped) (env BATON_RELAY_FORWARDED_FOR)

The relay's own drain reads the BATON_* contract exactly as a gateway does (drain-core's drainOptionsFromEnv):
BATON_GRACE_PERIOD_SECONDS (30), BATON_PROPAGATION_SECONDS (15), BATON_DRAIN_WINDOW_SECONDS,
BATON_CLOSE_TIMEOUT_SECONDS (5), BATON_SAFETY_MARGIN_SECONDS (2), BATON_MIN_WINDOW_SHARE,
BATON_MAX_ACCEPTS_PER_SECOND, BATON_ACCEPT_BURST, ADMIN_HOST, BATON_ADMIN_TOKEN,
BATON_ROLLOUT_HOLD=kubernetes (needs @baton/kubernetes installed), BATON_KUBERNETES_TIMEOUT_SECONDS
(docs/operations.md).`;

function number(name: string, raw: string | undefined, fallback: number, integer: boolean): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be a ${integer ? 'whole ' : ''}number ≥ 0; got ${JSON.stringify(raw)}.`);
  }
  return value;
}

export function readCliConfig(argv: string[], env: NodeJS.ProcessEnv): RelayCliConfig | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string' },
      host: { type: 'string' },
      upstream: { type: 'string' },
      'admin-port': { type: 'string' },
      'id-field': { type: 'string' },
      'forward-headers': { type: 'string' },
      'max-buffered-bytes': { type: 'string' },
      'forwarded-for': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const upstream = values.upstream ?? env.BATON_RELAY_UPSTREAM;
  if (!upstream) throw new TypeError('--upstream (or BATON_RELAY_UPSTREAM) is required: the gateway URL, ws://…');
  const idField = values['id-field'] ?? env.BATON_RELAY_ID_FIELD;
  const forward = values['forward-headers'] ?? env.BATON_RELAY_FORWARD_HEADERS;
  const maxBuffered = values['max-buffered-bytes'] ?? env.BATON_RELAY_MAX_BUFFERED_BYTES;
  const forwardedFor = values['forwarded-for'] ?? env.BATON_RELAY_FORWARDED_FOR;
  // The --admin-port flag wins over ADMIN_PORT, as every flag wins over its variable.
  const adminPort = values['admin-port'];
  const drain = drainOptionsFromEnv(adminPort === undefined ? env : { ...env, ADMIN_PORT: adminPort }, {
    adminPort: 9091,
  });
  if (drain.rebalance) {
    // Rebalancing moves Baton connections with hints; the relay's clients are plain WebSockets, which could only
    // be moved by disconnecting them. The relay's upstreams are Baton connections: the gateways move those.
    throw invalidOption(
      'type',
      "BATON_REBALANCE_SECONDS does not apply to baton-relay: its clients are plain WebSockets, which move only by being disconnected. Set it on the gateways behind the relay instead: they rebalance the relay's upstreams, and the relay's clients notice nothing.",
    );
  }
  return {
    host: values.host ?? env.HOST ?? '0.0.0.0',
    port: number('--listen / PORT', values.listen ?? env.PORT, 8080, true),
    relay: {
      upstream,
      ...(idField ? { idField } : {}),
      ...(forward ? { forwardHeaders: forward.split(',').map((h) => h.trim()) } : {}),
      ...(maxBuffered ? { maxBufferedBytes: number('--max-buffered-bytes', maxBuffered, 0, true) } : {}),
      // Checked by the relay's own options ('append' or 'replace').
      ...(forwardedFor ? { forwardedFor: forwardedFor as 'append' | 'replace' } : {}),
    },
    drain,
  };
}
