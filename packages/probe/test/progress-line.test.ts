// The live progress line baton-probe rewrites on a terminal once a second.

import { expect, it } from 'vitest';
import { progressLine } from '../src/cli/progress-line.js';

it('says where the run is: time, connected, disconnected once / twice / more, accepts per version, failures', () => {
  const line = progressLine(
    {
      clients: 1000,
      connected: 990,
      disconnected: [700, 280, 15, 5],
      acceptsByVersion: { v2: 310, v1: 1000 },
      failures: 3,
      refusals: 0,
    },
    42.4,
    600,
  );
  expect(line).toBe(
    '42/600 s  connected 990/1000  disconnected 1× 280, 2× 15, 3+× 5  accepts v1 1000, v2 310  failed 3',
  );
  expect(
    progressLine(
      { clients: 5, connected: 0, disconnected: [5, 0, 0, 0], acceptsByVersion: {}, failures: 0, refusals: 0 },
      0,
      10,
    ),
  ).toBe('0/10 s  connected 0/5  disconnected 1× 0, 2× 0, 3+× 0  accepts -');
});
