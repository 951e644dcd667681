// The live progress line on a terminal: rewritten in place once a second.

import type { FleetProgress } from '../fleet/fleet-worker.js';

export function progressLine(p: FleetProgress, elapsedSeconds: number, durationSeconds: number): string {
  const [, once, twice, more] = p.disconnected;
  const accepts = Object.entries(p.acceptsByVersion)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([version, n]) => `${version} ${n}`)
    .join(', ');
  return (
    `${elapsedSeconds.toFixed(0)}/${durationSeconds} s  connected ${p.connected}/${p.clients}  ` +
    `disconnected 1× ${once}, 2× ${twice}, 3+× ${more}  accepts ${accepts || '-'}` +
    (p.failures ? `  failed ${p.failures}` : '')
  );
}
