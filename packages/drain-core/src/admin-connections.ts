// The admin server's connections, bounded so that nobody who reaches the port can starve the kubelet's probes
// or the preStop hook. Refusing newcomers at a cap (node's maxConnections) hands the port to whoever came first:
// 64 sockets that never finish a request (or never send one, or never close their side) kept every probe out
// for as long as they stayed. Instead a newcomer is always let in, and at the cap the oldest socket with no
// request in progress — idle, or still dribbling its headers — goes; so does the oldest of a peer that holds
// more than its share. A probe's request arrives in one packet and is answered at once, so it is never the one.

import type { Socket } from 'node:net';

interface Tracked {
  readonly peer: string;
  /** A request is being answered on it. */
  busy: boolean;
}

export class AdminConnections {
  readonly #sockets = new Map<Socket, Tracked>();

  constructor(
    readonly limits: { total: number; perPeer: number },
    readonly onEvicted: (peer: string) => void,
  ) {}

  get size(): number {
    return this.#sockets.size;
  }

  admit(socket: Socket): void {
    const peer = socket.remoteAddress ?? '?';
    this.#sockets.set(socket, { peer, busy: false });
    socket.once('close', () => this.#sockets.delete(socket));
    if (this.#count(peer) > this.limits.perPeer) this.#evictOldest((tracked) => tracked.peer === peer, socket);
    if (this.#sockets.size > this.limits.total) this.#evictOldest(() => true, socket);
  }

  /** A request arrived on `socket`; `done` when its answer is sent. */
  busy(socket: Socket): () => void {
    const tracked = this.#sockets.get(socket);
    if (tracked) tracked.busy = true;
    return () => {
      if (tracked) tracked.busy = false;
    };
  }

  destroyAll(): void {
    for (const socket of this.#sockets.keys()) socket.destroy();
  }

  #count(peer: string): number {
    let count = 0;
    for (const tracked of this.#sockets.values()) if (tracked.peer === peer) count++;
    return count;
  }

  /** Destroy the oldest idle socket that `matches` (insertion order is age), never `newcomer`. */
  #evictOldest(matches: (tracked: Tracked) => boolean, newcomer: Socket): void {
    for (const [socket, tracked] of this.#sockets) {
      if (socket === newcomer || tracked.busy || !matches(tracked)) continue;
      this.#sockets.delete(socket);
      socket.destroy();
      this.onEvicted(tracked.peer);
      return;
    }
  }
}
