// baton_relay_* Prometheus metrics through prom-client (an optional peer), registered into the registry
// drain-core serves on the admin port, so one scrape has both. A table of rows, as drain-core's are.

import { type MetricRow, registerMetricTable } from '@baton/drain-core';
import type { Relay } from './relay.js';

const RELAY_METRICS: readonly MetricRow<Relay>[] = [
  {
    name: 'baton_relay_connections',
    help: 'Client connections the relay carries now.',
    kind: 'gauge',
    samples: (relay) => [[undefined, relay.stats.connections]],
  },
  {
    name: 'baton_relay_buffered_bytes',
    help: 'Bytes waiting in the relayed connections (towards clients and towards the gateway).',
    kind: 'gauge',
    samples: (relay) => [[undefined, relay.bufferedBytes]],
  },
  {
    name: 'baton_relay_moves_total',
    help: 'Upstream connections moved to another gateway pod on a hint, the client seeing nothing.',
    kind: 'counter',
    samples: (relay) => [[undefined, relay.stats.moves]],
  },
  {
    name: 'baton_relay_upstream_lost_total',
    help: 'Upstream connections gone for good (a failed move, a crash); their clients were closed.',
    kind: 'counter',
    samples: (relay) => [[undefined, relay.stats.upstreamLost]],
  },
  {
    name: 'baton_relay_upstream_pauses_total',
    help: 'Times a client read too slowly and the relay stopped reading its gateway connection until it caught up.',
    kind: 'counter',
    samples: (relay) => [[undefined, relay.stats.upstreamPauses]],
  },
  {
    name: 'baton_relay_client_pauses_total',
    help: 'Times the relay stopped reading a client because what waited for its gateway (during a move, or a slow gateway) passed the bound.',
    kind: 'counter',
    samples: (relay) => [[undefined, relay.stats.clientPauses]],
  },
  {
    name: 'baton_relay_refused_total',
    help: 'Clients refused or closed by the relay, by reason.',
    kind: 'counter',
    labelNames: ['reason'],
    samples: ({ stats }) => [
      [{ reason: 'upstream_refused' }, stats.refused.upstreamRefused],
      [{ reason: 'upstream_timeout' }, stats.refused.upstreamTimeout],
      [{ reason: 'client_too_slow' }, stats.refused.clientTooSlow],
      [{ reason: 'client_too_fast' }, stats.refused.clientTooFast],
    ],
  },
];

/** Register the relay's metrics into `registry` (a prom-client Registry). False when prom-client is missing. */
export async function registerRelayMetrics(relay: Relay, registry: unknown): Promise<boolean> {
  let client: typeof import('prom-client');
  try {
    client = await import('prom-client');
  } catch {
    return false;
  }
  registerMetricTable(client, registry, RELAY_METRICS, () => relay);
  return true;
}
