// Real ws clients that remember how they ended.

import { once } from 'node:events';
import { WebSocket } from 'ws';

export interface RecordedClient {
  readonly ws: WebSocket;
  readonly openedAt: number;
  close?: { code: number; reason: string; at: number };
  messages: number;
  readonly closed: Promise<{ code: number; reason: string; at: number }>;
}

export async function openClient(url: string, protocols?: string | string[]): Promise<RecordedClient> {
  const ws = new WebSocket(url, protocols);
  const record = { ws, openedAt: 0, messages: 0 } as { -readonly [K in keyof RecordedClient]: RecordedClient[K] };
  record.closed = new Promise((resolve) => {
    ws.once('close', (code, reason) => {
      record.close = { code, reason: reason.toString(), at: Date.now() };
      resolve(record.close);
    });
  });
  ws.on('message', () => {
    record.messages++;
  });
  ws.on('error', () => {});
  await once(ws, 'open');
  record.openedAt = Date.now();
  return record;
}

/** Open `count` clients, `concurrency` handshakes at a time (the listen backlog is finite). */
export async function openClients(url: string, count: number, concurrency = 100): Promise<RecordedClient[]> {
  const clients: RecordedClient[] = [];
  for (let start = 0; start < count; start += concurrency) {
    const batch = Math.min(concurrency, count - start);
    clients.push(...(await Promise.all(Array.from({ length: batch }, () => openClient(url)))));
  }
  return clients;
}

/** The upgrade answer as a client sees it: 101, or the refusal status and headers. */
export function tryUpgrade(
  url: string,
  protocols?: string[],
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; ws?: WebSocket; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    let headers: Record<string, string | string[] | undefined> = {};
    ws.once('upgrade', (response) => {
      headers = response.headers;
    });
    ws.once('open', () => resolve({ status: 101, headers, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once('error', (error) => reject(error));
  });
}
