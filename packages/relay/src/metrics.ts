// baton_relay_* Prometheus metrics through prom-client (an optional peer), registered into the registry
// drain-core serves on the admin port, so one scrape has both.

import type { Relay } from './relay.js';

/** Register the relay's metrics into `registry` (a prom-client Registry). False when prom-client is missing. */
export async function registerRelayMetrics(relay: Relay, registry: unknown): Promise<boolean> {
  let client: typeof import('prom-client');
  try {
    client = await import('prom-client');
  } catch {
    return false;
  }
  const registers = [registry as import('prom-client').Registry];
  const { stats } = relay;
  new client.Gauge({
    name: 'baton_relay_connections',
    help: 'Client connections the relay carries now.',
    registers,
    collect() {
      this.set(stats.connections);
    },
  });
  new client.Gauge({
    name: 'baton_relay_buffered_bytes',
    help: 'Bytes waiting in the relayed connections (towards clients and towards the gateway).',
    registers,
    collect() {
      this.set(relay.bufferedBytes);
    },
  });
  new client.Counter({
    name: 'baton_relay_moves_total',
    help: 'Upstream connections moved to another gateway pod on a hint, the client seeing nothing.',
    registers,
    collect() {
      this.reset();
      this.inc(stats.moves);
    },
  });
  new client.Counter({
    name: 'baton_relay_upstream_lost_total',
    help: 'Upstream connections gone for good (a failed move, a crash); their clients were closed.',
    registers,
    collect() {
      this.reset();
      this.inc(stats.upstreamLost);
    },
  });
  new client.Counter({
    name: 'baton_relay_upstream_pauses_total',
    help: 'Times a client read too slowly and the relay stopped reading its gateway connection until it caught up.',
    registers,
    collect() {
      this.reset();
      this.inc(stats.upstreamPauses);
    },
  });
  new client.Counter({
    name: 'baton_relay_refused_total',
    help: 'Clients refused or closed by the relay, by reason.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      this.inc({ reason: 'upstream_refused' }, stats.refused.upstreamRefused);
      this.inc({ reason: 'upstream_timeout' }, stats.refused.upstreamTimeout);
      this.inc({ reason: 'client_too_slow' }, stats.refused.clientTooSlow);
    },
  });
  return true;
}
