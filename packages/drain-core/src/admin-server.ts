// The admin HTTP server: readiness, liveness, drain and metrics on a port of their own, never the public one
// (anyone who can reach a drain endpoint can take the fleet down). Every answer is JSON with a coded error
// on failure; malformed requests get a 400 and never disturb the process or its WebSocket connections.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AdminConnections } from './admin-connections.js';
import { PROOF_HEADER, proofPath, removeProof, writeProof } from './container-proof.js';
import { drainAuthorizer } from './drain-authorization.js';
import { BatonError, type ErrorCode, ErrorCodes } from './errors.js';
import type { DrainTrigger } from './lifecycle.js';
import type { ResolvedLogger } from './logger.js';
import type { MetricsRegistry } from './metrics.js';

export interface AdminPaths {
  readiness: string;
  liveness: string;
  drain: string;
  metrics: string;
}

export const DEFAULT_ADMIN_PATHS: AdminPaths = {
  readiness: '/readyz',
  liveness: '/livez',
  drain: '/drain',
  metrics: '/metrics',
};

/** What the admin server needs from the controller. */
export interface AdminTarget {
  status(): Record<string, unknown>;
  isReady(): boolean;
  startDrain(trigger: DrainTrigger): { alreadyDraining: boolean };
  /** Cancel a manual drain; false when there is none (serving, or the pod is terminating). */
  cancelDrain(): boolean;
  metricsRegistry(): MetricsRegistry | undefined;
}

export interface AdminServerOptions {
  port: number;
  /** Undefined: dual-stack '::', falling back to '0.0.0.0' where IPv6 is off. */
  host: string | undefined;
  /** Bearer token that lets an operator start (and cancel) a manual drain. */
  token: string | undefined;
  paths: AdminPaths;
  target: AdminTarget;
  logger: ResolvedLogger;
}

/** Admin requests never carry a body of any size; a client that sends one is misbehaving. */
const MAX_BODY_BYTES = 1024;
/** Probes and scrapers need a handful of connections; a flood must not pin the process's descriptors. */
const MAX_CONNECTIONS = 64;
/** One peer's share: a mesh sidecar, the kubelet and a scraper each need a few at most. */
const MAX_CONNECTIONS_PER_PEER = 16;
/** A socket with nothing to do for this long goes (keep-alive probes come every 5–10 s; they reconnect). */
const IDLE_TIMEOUT_MS = 10_000;

export class AdminServer {
  readonly #server: Server;
  readonly #authorize: ReturnType<typeof drainAuthorizer>;
  readonly #options: AdminServerOptions;
  readonly #connections: AdminConnections;
  #closing: Promise<void> | undefined;
  /** The container proof of this start (container-proof.ts) and where it is; undefined until listening. */
  #proof: { value: string; path: string } | undefined;
  #refusals = 0;
  #lastRefusalLog = 0;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#authorize = drainAuthorizer(options.token, () => this.#proof?.value);
    this.#server = createServer(
      {
        requestTimeout: 10_000,
        headersTimeout: 5_000,
        maxHeaderSize: 8192,
        // Node checks the two timeouts above only this often (default 30 s): a half-sent request would hold
        // its socket for up to 30 s otherwise.
        connectionsCheckingInterval: 500,
      },
      (req, res) => this.#handle(req, res),
    );
    this.#connections = new AdminConnections({ total: MAX_CONNECTIONS, perPeer: MAX_CONNECTIONS_PER_PEER }, (peer) =>
      options.logger.debug({ peer }, 'baton admin: idle connection closed for a newcomer'),
    );
    this.#server.on('connection', (socket: Socket) => this.#connections.admit(socket));
    // Idle sockets (sending nothing, or never closing their side after an answer) go after a while.
    this.#server.setTimeout(IDLE_TIMEOUT_MS, (socket: Socket) => socket.destroy());
    // Garbage on the port (not HTTP, oversized headers): answer 400 if the socket can still take it.
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      options.logger.debug({ err: error.code ?? error.message }, 'baton admin: bad request');
      if (socket.writable && (socket as Socket & { _httpMessage?: unknown })._httpMessage === undefined) {
        const body = errorBody(ErrorCodes.BAD_REQUEST, 'Malformed HTTP request.');
        // Then gone: a half-closed socket whose peer never closes its side would keep its slot.
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          () => socket.destroy(),
        );
      } else {
        socket.destroy();
      }
    });
  }

  /** A refused drain request, logged at most once a second (a flood must not flood the logs). */
  #refused(method: string): void {
    const now = Date.now();
    this.#refusals++;
    if (now - this.#lastRefusalLog < 1_000) return;
    this.#options.logger.warn(
      { method, refused: this.#refusals },
      'baton admin: drain refused (no container proof, no valid token)',
    );
    this.#lastRefusalLog = now;
    this.#refusals = 0;
  }

  async listen(): Promise<AddressInfo> {
    const { port, host } = this.#options;
    if (host !== undefined) {
      await this.#listenOn(port, host);
    } else {
      try {
        // Dual stack: IPv6-only clusters probe over IPv6, the rest over IPv4 (mapped).
        await this.#listenOn(port, '::');
      } catch (error) {
        const code = (error as { cause?: NodeJS.ErrnoException }).cause?.code;
        if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
        await this.#listenOn(port, '0.0.0.0');
      }
    }
    // The admin server must never keep a drained process alive.
    this.#server.unref();
    const address = this.#server.address() as AddressInfo;
    this.#writeProof(address.port);
    return address;
  }

  /** The container proof baton-drain reads; without it (a read-only /tmp) only SIGTERM starts a terminating drain. */
  #writeProof(port: number): void {
    const path = proofPath(port);
    try {
      this.#proof = { value: writeProof(path), path };
    } catch (error) {
      this.#options.logger.warn(
        { err: (error as NodeJS.ErrnoException).code ?? String(error), path },
        'baton admin: cannot write the drain proof; the preStop hook (baton-drain) cannot start a drain, SIGTERM still does. Mount a writable /tmp (an emptyDir) or set BATON_ADMIN_PROOF_FILE.',
      );
    }
  }

  async #listenOn(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(
          new BatonError(
            ErrorCodes.ADMIN_LISTEN,
            `The admin server could not listen on ${host}:${port} (${error.code ?? error.message}). Choose a free admin.port, or admin.port 0 for any.`,
            { cause: error },
          ),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
  }

  address(): AddressInfo | undefined {
    const address = this.#server.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  close(): Promise<void> {
    if (this.#proof) removeProof(this.#proof.path, this.#proof.value);
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      // Probes use keep-alive; idle sockets would hold close() open.
      this.#connections.destroyAll();
    });
    return this.#closing;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const done = this.#connections.busy(req.socket);
    res.once('close', done);
    // We never need a request body: a small one is discarded so the socket stays usable, a large one refused.
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      res.setHeader('Connection', 'close');
      sendError(res, 413, ErrorCodes.BAD_REQUEST, `Admin requests take no body (at most ${MAX_BODY_BYTES} bytes).`);
      req.socket.destroySoon();
      return;
    }
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_BODY_BYTES) req.socket.destroy();
    });
    req.resume();
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://admin.invalid').pathname;
    } catch {
      return sendError(res, 400, ErrorCodes.BAD_REQUEST, 'The request target is not a valid URL path.');
    }
    const { paths, target } = this.#options;
    const method = req.method ?? 'GET';
    switch (pathname) {
      case paths.readiness: {
        if (!allow(res, method, ['GET', 'HEAD'])) return;
        const ready = target.isReady();
        return sendJson(res, ready ? 200 : 503, { ready, ...target.status() }, method === 'HEAD');
      }
      case paths.liveness: {
        if (!allow(res, method, ['GET', 'HEAD'])) return;
        return sendJson(res, 200, { live: true, ...target.status() }, method === 'HEAD');
      }
      case paths.drain: {
        if (!allow(res, method, ['GET', 'HEAD', 'POST', 'DELETE'])) return;
        // GET only reads: a link, an <img>, a mesh peer's probe changes nothing.
        if (method === 'GET' || method === 'HEAD') return sendJson(res, 200, target.status(), method === 'HEAD');
        const proof = req.headers[PROOF_HEADER];
        const authorization = this.#authorize({
          host: req.headers.host,
          origin: req.headers.origin,
          authorization: req.headers.authorization,
          proof: typeof proof === 'string' ? proof : undefined,
        });
        if (authorization === 'refused') {
          this.#refused(method);
          return sendError(
            res,
            403,
            ErrorCodes.FORBIDDEN,
            "A terminating drain needs the container's proof (run baton-drain inside the container, as the preStop hook); a manual drain needs the admin token as Authorization: Bearer. A loopback address alone authorizes nothing.",
          );
        }
        if (method === 'DELETE') {
          if (!target.cancelDrain()) {
            return sendError(
              res,
              409,
              ErrorCodes.NOT_CANCELLABLE,
              'No manual drain to cancel: the pod is serving, or it is being deleted (a terminating drain cannot be cancelled).',
            );
          }
          this.#options.logger.info({}, 'baton admin: manual drain cancelled');
          return sendJson(res, 200, { cancelled: true, ...target.status() });
        }
        // The container's proof is the preStop hook (the pod is being deleted); the token, an operator draining
        // a pod that stays (cancellable, never ends the process).
        const trigger: DrainTrigger = authorization === 'container' ? 'prestop' : 'admin';
        const { alreadyDraining } = target.startDrain(trigger);
        this.#options.logger.info({ trigger, alreadyDraining }, 'baton admin: drain requested');
        return sendJson(res, alreadyDraining ? 200 : 202, { alreadyDraining, ...target.status() });
      }
      case paths.metrics: {
        if (!allow(res, method, ['GET'])) return;
        const registry = target.metricsRegistry();
        if (!registry) {
          return sendError(
            res,
            404,
            ErrorCodes.METRICS_DISABLED,
            'Metrics are disabled: install prom-client, or pass metrics: { registry }.',
          );
        }
        registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text) });
            res.end(text);
          },
          (error: unknown) => {
            this.#options.logger.error({ err: String(error) }, 'baton admin: metrics collection failed');
            sendError(res, 500, ErrorCodes.INTERNAL, 'Metrics collection failed.');
          },
        );
        return;
      }
      default:
        return sendError(
          res,
          404,
          ErrorCodes.NOT_FOUND,
          `No admin endpoint at this path. Endpoints: ${Object.values(paths).join(', ')}.`,
        );
    }
  }
}

function allow(res: ServerResponse, method: string, allowed: string[]): boolean {
  if (allowed.includes(method)) return true;
  res.setHeader('Allow', allowed.join(', '));
  sendError(
    res,
    405,
    ErrorCodes.METHOD_NOT_ALLOWED,
    `Method ${method.slice(0, 16)} is not allowed here; use ${allowed.join(' or ')}.`,
  );
  return false;
}

function errorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  sendRaw(res, status, errorBody(code, message), false);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headOnly = false): void {
  sendRaw(res, status, JSON.stringify(value), headOnly);
}

function sendRaw(res: ServerResponse, status: number, body: string, headOnly: boolean): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : body);
}
