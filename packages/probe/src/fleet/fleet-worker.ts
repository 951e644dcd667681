// One process of the probe's client fleet: `count` clients against one URL, either plain `ws` clients that
// reconnect with capped exponential back-off and full jitter (clients whose back-off nobody can change), or
// Baton clients that follow hints and resume. Each keeps a ClientRecord. Driven over IPC by fleet.ts.

import { BatonSocket } from '@baton/client';
import { WebSocket } from 'ws';
import { type ClientRecord, type ConnectionKind, newRecord } from './client-record.js';
import type { VersionSource } from './identify.js';
import { awaitingVersion, ObservedSocket, observe, type SocketSettings, socketOptions } from './observed-socket.js';

export interface FleetStart {
  type: 'start';
  url: string;
  count: number;
  kind: 'plain' | 'baton';
  /** First back-off cap and the largest, ms. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Stagger of the first connections, ms. */
  rampMs: number;
  /** How to tell the version that served a connection. Default: the Baton-Version header. */
  versionFrom?: VersionSource;
  /** Request headers every connection sends. */
  headers?: Record<string, string>;
  /** Source addresses, round-robin over the clients (from `firstClient` on). */
  sourceAddresses?: string[];
  firstClient?: number;
}

/** The fleet's running counts, cheap enough to ask for every second (the progress line). */
export interface FleetProgress {
  clients: number;
  connected: number;
  /** Clients by app-visible disconnects so far: 0, 1, 2, 3+. */
  disconnected: [number, number, number, number];
  acceptsByVersion: Record<string, number>;
  failures: number;
  /** Upgrades answered with a status (503…). */
  refusals: number;
  lastError?: string;
}

type Tick = { type: 'tick'; session: string; n: number; version: string };

function track(record: ClientRecord, sessions: Map<string, number>, data: unknown): void {
  let message: Tick;
  try {
    message = JSON.parse(String(data));
  } catch {
    return;
  }
  if (message?.type !== 'tick') return;
  const last = sessions.get(message.session);
  if (last !== undefined) {
    if (message.n <= last) record.ticksDuplicated++;
    else record.ticksLost += message.n - last - 1;
  }
  sessions.set(message.session, Math.max(last ?? 0, message.n));
}

interface Client {
  record: ClientRecord;
  stop: () => void;
}

const clients: Client[] = [];

function plainClient(start: FleetStart, settings: SocketSettings): Client {
  const record = newRecord();
  const sessions = new Map<string, number>();
  let attempt = 0;
  let stopped = false;
  let socket: WebSocket | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    if (stopped) return;
    const ws = new WebSocket(start.url, socketOptions(settings));
    socket = ws;
    observe(ws, record, record.connections.length === 0 ? 'first' : 'reconnect', settings);
    let opened = false;
    ws.on('open', () => {
      opened = true;
      attempt = 0;
      record.connected = true;
    });
    ws.on('message', (data) => track(record, sessions, data));
    ws.on('close', (code) => {
      record.connected = false;
      if (opened) {
        record.disconnects++;
        record.closeCodes.push(code);
      }
      if (stopped) return;
      // Full jitter over a doubling cap: what a typical client library does, and what this team cannot change.
      const cap = Math.min(start.maxDelayMs, start.initialDelayMs * 2 ** attempt++);
      timer = setTimeout(open, Math.random() * cap);
    });
  };
  timer = setTimeout(open, Math.random() * start.rampMs);
  return {
    record,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      socket?.terminate();
    },
  };
}

const KINDS: Record<'connect' | 'move' | 'reconnect', ConnectionKind> = {
  connect: 'first',
  move: 'move',
  reconnect: 'reconnect',
};

function batonClient(start: FleetStart, settings: SocketSettings): Client {
  const record = newRecord();
  const sessions = new Map<string, number>();
  let socket: BatonSocket | undefined;
  const timer = setTimeout(() => {
    socket = new BatonSocket(start.url, [], {
      WebSocket: ObservedSocket,
      initialDelayMs: start.initialDelayMs,
      maxDelayMs: start.maxDelayMs,
      // Called right before each socket is made: the observed socket takes this client's record from here.
      url: ({ reason }) => {
        ObservedSocket.claim = { record, kind: KINDS[reason], settings };
        return start.url;
      },
      dedupe: (data) => {
        try {
          const message = JSON.parse(String(data)) as Partial<Tick>;
          return message.type === 'tick' ? `${message.session}:${message.n}` : undefined;
        } catch {
          return undefined;
        }
      },
    });
    socket.addEventListener('open', () => {
      record.connected = true;
    });
    socket.addEventListener('message', (event) => track(record, sessions, event.data));
    socket.addEventListener('close', (event) => {
      record.connected = false;
      record.disconnects++;
      record.closeCodes.push(event.code);
    });
    socket.addEventListener('migrated', () => {
      record.migrations++;
    });
    socket.addEventListener('resumed', () => {
      record.resumed++;
    });
    socket.addEventListener('resume-failed', () => {
      record.resumeFailed++;
    });
  }, Math.random() * start.rampMs);
  return {
    record,
    stop: () => {
      clearTimeout(timer);
      socket?.close();
    },
  };
}

function progress(): FleetProgress {
  const counts: FleetProgress = {
    clients: clients.length,
    connected: 0,
    disconnected: [0, 0, 0, 0],
    acceptsByVersion: {},
    failures: 0,
    refusals: 0,
  };
  for (const { record } of clients) {
    counts.refusals += record.refusals.length;
    if (record.connected) counts.connected++;
    const bucket = Math.min(3, record.disconnects);
    counts.disconnected[bucket] = (counts.disconnected[bucket] as number) + 1;
    for (const connection of record.connections)
      counts.acceptsByVersion[connection.version] = (counts.acceptsByVersion[connection.version] ?? 0) + 1;
    counts.failures += record.failures;
    if (record.lastError) counts.lastError = record.lastError;
  }
  return counts;
}

/** How long a report waits for just-opened connections to name their version in a first message (json:PATH). */
const VERSION_WAIT_MS = 2_000;

function namedVersions(): Promise<void> {
  if (awaitingVersion.count === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      awaitingVersion.changed = undefined;
      resolve();
    };
    const timer = setTimeout(done, VERSION_WAIT_MS);
    awaitingVersion.changed = () => {
      if (awaitingVersion.count === 0) done();
    };
  });
}

type Command = FleetStart | { type: 'report' | 'stop' | 'progress' };

process.on('message', (message: Command) => {
  if (message.type === 'start') {
    const addresses = message.sourceAddresses ?? [];
    for (let i = 0; i < message.count; i++) {
      const settings: SocketSettings = {
        versionFrom: message.versionFrom ?? { kind: 'headers' },
        headers: message.headers ?? {},
        localAddress: addresses.length ? addresses[((message.firstClient ?? 0) + i) % addresses.length] : undefined,
      };
      clients.push(message.kind === 'baton' ? batonClient(message, settings) : plainClient(message, settings));
    }
  } else if (message.type === 'progress') {
    process.send?.({ type: 'progress', progress: progress() });
  } else if (message.type === 'report') {
    void namedVersions().then(() =>
      process.send?.({ type: 'report', records: clients.map((client) => client.record) }),
    );
  } else if (message.type === 'stop') {
    for (const client of clients) client.stop();
    process.send?.({ type: 'stopped' });
    setImmediate(() => process.exit(0));
  }
});
// The probe died without stopping us (SIGKILL, a crash): leave no client behind.
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
