// What the fleet holds, as this pod reads it: every peer's admin server answers its status (instance, state,
// connections) on a read-only path; the serving ones make the fleet. This pod counts itself from its own
// live numbers, never from its answer over the network. No answer, a malformed one, or one that says the
// peer is draining: that peer is not counted (a terminating pod's connections are leaving anyway).

import { get } from 'node:http';
import type { PeerList } from './rebalance-options.js';

export interface FleetSample {
  /** Serving pods that answered, this one included. */
  readonly pods: number;
  /** Their open connections, this pod's own live count included. */
  readonly connections: number;
  /** A serving peer reports another release than this pod's: a release is under way. */
  readonly mixedVersions: boolean;
}

/** What a peer's status answer must carry to be counted. */
interface PeerStatus {
  instance: string;
  state: string;
  connections: number;
  version: string | undefined;
}

const MAX_STATUS_BYTES = 64 * 1024;

/** Read the fleet: `self` is this pod's instance id and live connection count. */
export async function readFleet(
  peers: PeerList,
  path: string,
  timeoutMs: number,
  self: { instance: string; connections: number; version: string | undefined },
): Promise<FleetSample> {
  const answers = await Promise.all(peers.map((peer) => readPeer(peer + path, timeoutMs)));
  const seen = new Set<string>([self.instance]);
  let pods = 1;
  let connections = self.connections;
  let mixedVersions = false;
  for (const answer of answers) {
    if (answer?.state !== 'serving' || seen.has(answer.instance)) continue;
    seen.add(answer.instance);
    pods++;
    connections += answer.connections;
    if (self.version !== undefined && answer.version !== undefined && answer.version !== self.version) {
      mixedVersions = true;
    }
  }
  return { pods, connections, mixedVersions };
}

function readPeer(url: string, timeoutMs: number): Promise<PeerStatus | undefined> {
  return new Promise((resolve) => {
    let request: ReturnType<typeof get> | undefined;
    let responded = false;
    let settled = false;
    // The whole answer within timeoutMs, not only each chunk: a peer that trickles its bytes cannot hold the
    // reading (and so every later one) open.
    const deadline = setTimeout(() => request?.destroy(), timeoutMs);
    const done = (value: PeerStatus | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(value);
    };
    try {
      request = get(url, { timeout: timeoutMs }, (response) => {
        responded = true;
        if (response.statusCode !== 200) {
          response.resume();
          return done(undefined);
        }
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
          if (body.length > MAX_STATUS_BYTES) response.destroy();
        });
        response.on('end', () => done(parseStatus(body)));
        // After 'end' a no-op; before it, the answer was cut off.
        response.on('close', () => done(undefined));
      });
    } catch {
      return done(undefined);
    }
    request.on('timeout', () => request.destroy());
    request.on('error', () => done(undefined));
    request.on('close', () => {
      if (!responded) done(undefined);
    });
  });
}

function parseStatus(body: string): PeerStatus | undefined {
  try {
    const value = JSON.parse(body) as Partial<PeerStatus>;
    if (
      typeof value.instance === 'string' &&
      typeof value.state === 'string' &&
      typeof value.connections === 'number' &&
      Number.isInteger(value.connections) &&
      value.connections >= 0
    ) {
      const version = typeof value.version === 'string' ? value.version : undefined;
      return { instance: value.instance, state: value.state, connections: value.connections, version };
    }
  } catch {}
  return undefined;
}
