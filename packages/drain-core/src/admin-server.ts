// The admin HTTP server: readiness, liveness, drain and metrics on a port of their own, never the public one
// (anyone who can reach a drain endpoint can take the fleet down). Every answer is JSON with a coded error
// on failure; malformed requests get a 400 and never disturb the process or its WebSocket connections.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { DrainTrigger } from './drain-state.js';
import { BatonError, type ErrorCode, ErrorCodes } from './errors.js';
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
  metricsRegistry(): MetricsRegistry | undefined;
}

export interface AdminServerOptions {
  port: number;
  host: string;
  paths: AdminPaths;
  target: AdminTarget;
  logger: ResolvedLogger;
}

export class AdminServer {
  readonly #server: Server;
  readonly #options: AdminServerOptions;
  readonly #sockets = new Set<Socket>();
  #closing: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) =>
      this.#handle(req, res),
    );
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
    // The admin server must never keep a drained process alive.
    this.#server.unref();
    return this.#server.address() as AddressInfo;
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
    // We never need a request body; discard it so the socket stays usable.
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
        if (!allow(res, method, ['GET', 'POST'])) return;
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
