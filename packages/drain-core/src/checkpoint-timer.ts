// Periodic checkpoints (hintProtocol.checkpointIntervalMs): every open, capable connection gets a fresh resume
// token once per interval, so a client whose server dies without a hint resumes as of its last checkpoint.
// One unref'd timer ticks ten times per interval and serves a tenth of the connections each time, so sealing
// 20k tokens is spread over the interval instead of done in one burst.

import type { WebSocket } from 'ws';
import { type ConnectionFlags, isCapable, phaseOf } from './tracked-connection.js';

const SLICES = 10;

export class CheckpointTimer {
  readonly #timer: ReturnType<typeof setInterval>;
  #tick = 0;

  /**
   * Checkpoints the open, capable connections of `connections` — not while `closing()`: a hint carries the
   * session from then on. `checkpoint` sends one.
   */
  constructor(
    intervalMs: number,
    connections: ReadonlyMap<WebSocket, ConnectionFlags>,
    closing: () => boolean,
    checkpoint: (socket: WebSocket) => void,
  ) {
    this.#timer = setInterval(() => {
      if (closing()) return;
      const slice = this.#tick++ % SLICES;
      let index = 0;
      for (const [socket, flags] of connections) {
        if (!isCapable(flags) || phaseOf(flags) !== 'open') continue;
        if (index++ % SLICES === slice) checkpoint(socket);
      }
    }, intervalMs / SLICES);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
