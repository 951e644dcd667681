// The admin HTTP server: readiness, liveness, drain and metrics on a port of their own, never the public one
// (anyone who can reach a drain endpoint can take the fleet down). Every answer is JSON with a coded error
// on failure; malformed requests get a 400 and never disturb the process or its WebSocket connections.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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
  /** Bearer token that lets a non-loopback peer start a drain. */
  token: string | undefined;
  paths: AdminPaths;
  target: AdminTarget;
  logger: ResolvedLogger;
}

/** Admin requests never carry a body of any size; a client that sends one is misbehaving. */
const MAX_BODY_BYTES = 1024;
/** Probes and scrapers need a handful of connections; a flood must not pin the process's descriptors. */
const MAX_CONNECTIONS = 64;

export class AdminServer {
  readonly #server: Server;
  readonly #authorize: ReturnType<typeof drainAuthorizer>;
  readonly #options: AdminServerOptions;
  readonly #sockets = new Set<Socket>();
  #closing: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#authorize = drainAuthorizer(options.token);
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
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // Garbage on the port (not HTTP, oversized headers): answer 400 if the socket can still take it.
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      options.logger.debug({ err: error.code ?? error.message }, 'baton admin: bad request');
      if (socket.writable && (socket as Socket & { _httpMessage?: unknown })._httpMessage === undefined) {
        const body = errorBody(ErrorCodes.BAD_REQUEST, 'Malformed HTTP request.');
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      } else {
        socket.destroy();
      }
    });
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
    return this.#server.address() as AddressInfo;
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
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      // Probes use keep-alive; idle sockets would hold close() open.
      for (const socket of this.#sockets) socket.destroy();
    });
    return this.#closing;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
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
        if (!allow(res, method, ['GET', 'POST', 'DELETE'])) return;
        const authorization = this.#authorize({
          remoteAddress: req.socket.remoteAddress,
          authorization: req.headers.authorization,
        });
        if (authorization === 'refused') {
          this.#options.logger.warn({ method }, 'baton admin: drain refused (not loopback, no valid token)');
          return sendError(
            res,
            403,
            ErrorCodes.FORBIDDEN,
            'Starting or cancelling a drain needs a loopback peer (run baton-drain inside the container) or the admin token as Authorization: Bearer.',
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
        // GET is the preStop hook (the pod is being deleted); POST is a pipeline draining a pod that stays.
        const trigger: DrainTrigger = method === 'GET' ? 'prestop' : 'admin';
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
