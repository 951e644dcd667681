// One process of the lab's client fleet: `count` clients against the balancer, either plain `ws` clients
// that reconnect with capped exponential back-off and full jitter (clients whose back-off nobody can change),
// or Baton clients. Each records what its user would notice. Driven over IPC by fleet.ts.

import { BatonSocket } from '@baton/client';
import { WebSocket } from 'ws';

export interface FleetStart {
  type: 'start';
  url: string;
  count: number;
  kind: 'plain' | 'baton';
  /** First back-off cap and the largest, ms (already compressed by the time scale). */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Stagger of the first connections, ms. */
  rampMs: number;
}

/** What one client saw. */
export interface ClientRecord {
  /** App-visible disconnects: closes of an open connection (a Baton move is not one). */
  disconnects: number;
  /** The close code of each app-visible disconnect, in order (what tells a refused move from a dead pod). */
  closeCodes: number[];
  /** Baton clients: moves without an app-visible close. */
  migrations: number;
  /** Baton clients: sessions resumed on a new server (a move or a reconnect with a token), and refused tokens. */
  resumed: number;
  resumeFailed: number;
  /** Ticks missing inside one session (gaps), and ticks delivered twice. */
  ticksLost: number;
  ticksDuplicated: number;
  connected: boolean;
}

type Tick = { type: 'tick'; session: string; n: number; version: string };

function track(record: ClientRecord, sessions: Map<string, number>, data: unknown): void {
  let message: Tick;
  try {
    message = JSON.parse(String(data));
  } catch {
    return;
  }
  if (message.type !== 'tick') return;
  const last = sessions.get(message.session);
  if (last !== undefined) {
    if (message.n <= last) record.ticksDuplicated++;
    else record.ticksLost += message.n - last - 1;
  }
  sessions.set(message.session, Math.max(last ?? 0, message.n));
}

function newRecord(): ClientRecord {
  return {
    disconnects: 0,
    closeCodes: [],
    migrations: 0,
    resumed: 0,
    resumeFailed: 0,
    ticksLost: 0,
    ticksDuplicated: 0,
    connected: false,
  };
}

const clients: { record: ClientRecord; stop: () => void }[] = [];

function plainClient(start: FleetStart): { record: ClientRecord; stop: () => void } {
  const record = newRecord();
  const sessions = new Map<string, number>();
  let attempt = 0;
  let stopped = false;
  let socket: WebSocket | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    if (stopped) return;
    const ws = new WebSocket(start.url);
    socket = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      attempt = 0;
      record.connected = true;
    });
    ws.on('message', (data) => track(record, sessions, data));
    ws.on('error', () => {});
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

function batonClient(start: FleetStart): { record: ClientRecord; stop: () => void } {
  const record = newRecord();
  const sessions = new Map<string, number>();
  let socket: BatonSocket | undefined;
  const timer = setTimeout(() => {
    socket = new BatonSocket(start.url, [], {
      WebSocket,
      initialDelayMs: start.initialDelayMs,
      maxDelayMs: start.maxDelayMs,
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

process.on('message', (message: FleetStart | { type: 'report' | 'stop' | 'connected' }) => {
  if (message.type === 'start') {
    for (let i = 0; i < message.count; i++)
      clients.push(message.kind === 'baton' ? batonClient(message) : plainClient(message));
  } else if (message.type === 'connected') {
    process.send?.({ type: 'connected', count: clients.filter((client) => client.record.connected).length });
  } else if (message.type === 'report') {
    process.send?.({ type: 'report', records: clients.map((client) => client.record) });
  } else if (message.type === 'stop') {
    for (const client of clients) client.stop();
    process.send?.({ type: 'stopped' });
    setImmediate(() => process.exit(0));
  }
});
process.send?.({ type: 'ready' });
