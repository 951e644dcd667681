// Periodic checkpoints (hintProtocol.checkpointIntervalMs): every open, capable connection gets a fresh resume
// token once per interval, so a client whose server dies without a hint resumes as of its last checkpoint.
// One unref'd timer ticks ten times per interval and serves a tenth of the connections each time, so sealing
// 20k tokens is spread over the interval instead of done in one burst.

import type { WebSocket } from 'ws';

const SLICES = 10;

export class CheckpointTimer {
  readonly #timer: ReturnType<typeof setInterval>;
  #tick = 0;

  /** `due` lists the connections to checkpoint now (open and capable); `checkpoint` sends one. */
  constructor(intervalMs: number, due: () => Iterable<WebSocket>, checkpoint: (socket: WebSocket) => void) {
    this.#timer = setInterval(() => {
      const slice = this.#tick++ % SLICES;
      let index = 0;
      for (const socket of due()) {
        if (index++ % SLICES === slice) checkpoint(socket);
      }
    }, intervalMs / SLICES);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
