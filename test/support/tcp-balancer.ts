// A small TCP load balancer for tests, shaped like kube-proxy + a passthrough LB: each new connection goes
// to the next backend of the current set (round robin); established connections keep their backend when
// the set changes. Only loopback.

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpBalancer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #backends: number[] = [];
  #next = 0;
  port = 0;

  constructor() {
    this.#server = createServer((client) => this.#route(client));
  }

  async listen(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as AddressInfo).port;
    return this.port;
  }

  /** Replace the endpoint set, as an EndpointSlice update would; established flows are kept. */
  setBackends(ports: number[]): void {
    this.#backends = [...ports];
    this.#next = 0;
  }

  #route(client: Socket): void {
    this.#sockets.add(client);
    client.once('close', () => this.#sockets.delete(client));
    const port = this.#backends[this.#next++ % Math.max(1, this.#backends.length)];
    if (port === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    this.#sockets.add(upstream);
    upstream.once('close', () => this.#sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    // Half-closes and resets travel both ways, as they would through a real passthrough balancer.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
