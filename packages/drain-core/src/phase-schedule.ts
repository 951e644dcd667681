// When one drain's phases begin: closing at trigger + propagation delay (or later, while the rollout hold
// waits for the rollout's other pods, never past its cap), then the end of the window. One re-armable
// timer (PhaseTimer) for both boundaries; the hold may move the first one while it waits
// (docs/architecture.md, "Rollout-aware hold").

import type { ResolvedDrainRequest } from './drain-request.js';
import type { ResolvedDrainOptions } from './options.js';
import { PhaseTimer } from './phase-timer.js';
import { type DrainTimes, drainTimes, type HoldReport, HoldRun, windowEndAt } from './rollout-hold.js';

export interface DrainSpan {
  propagationDelayMs: number;
  drainWindowMs: number;
}

export interface ScheduleHandlers {
  /** Closing starts now (monotonic ms); the window ends at `windowEnd`; `heldMs` past the propagation delay. */
  closing(now: number, windowEnd: number, heldMs: number): void;
  /** The window's end: close what is left. */
  windowEnded(): void;
}

export class DrainSchedule {
  readonly #options: ResolvedDrainOptions;
  readonly #timer = new PhaseTimer();
  #span: DrainSpan;
  #times: DrainTimes | undefined;
  #hold: HoldRun | undefined;
  #closingStarted = false;

  constructor(options: ResolvedDrainOptions) {
    this.#options = options;
    this.#span = options.budget;
  }

  /** This drain's propagation delay and window: the budget's, or shorter when the request shortened them. */
  get span(): DrainSpan {
    return this.#span;
  }

  /** True while the rollout hold keeps closing waiting for the rollout's other pods. */
  get holding(): boolean {
    return this.#hold?.pending === true;
  }

  /** The span a drain started by `request` gets; call before begin() to log it. */
  plan(request: Partial<ResolvedDrainRequest>): DrainSpan {
    const { budget } = this.#options;
    // A server that already refuses new connections (its own close started the drain) need not wait for
    // the Service to stop routing to it.
    const propagationDelayMs = request.skipPropagationDelay ? 0 : budget.propagationDelayMs;
    const drainWindowMs = Math.min(budget.drainWindowMs, request.drainWindowMs ?? budget.drainWindowMs);
    this.#span = { propagationDelayMs, drainWindowMs };
    return this.#span;
  }

  /** Arm the phases of a drain planned by plan(), triggered now. */
  begin(
    request: Pick<ResolvedDrainRequest, 'terminating'> & Partial<ResolvedDrainRequest>,
    on: ScheduleHandlers,
  ): void {
    const { rolloutHold, minWindowShare, logger } = this.#options;
    this.#closingStarted = false;
    this.#times = drainTimes(performance.now(), this.#span, minWindowShare);
    // Only a pod being deleted can be part of a rollout; a manual drain never waits for other pods, nor does
    // a server that already refuses new connections.
    if (request.terminating && rolloutHold && !request.skipPropagationDelay) {
      this.#hold = new HoldRun(rolloutHold, {
        times: this.#times,
        propagationDelayMs: this.#span.propagationDelayMs,
        logger,
        onSettled: () => this.#armClosing(on),
      });
    }
    this.#armClosing(on);
  }

  /** Stop the timer and the hold (drained, or a cancelled drain). Idempotent. */
  stop(): void {
    this.#timer.clear();
    this.#hold?.stop();
    this.#times = undefined;
  }

  /** Forget a cancelled drain's hold, so nothing of it shows while serving again. */
  forget(): void {
    this.stop();
    this.#hold = undefined;
  }

  holdReport(closingStartedAt: number, windowEnd: number): HoldReport | undefined {
    return this.#hold?.report(closingStartedAt, windowEnd);
  }

  holdMetrics(closingStartedAt: number): { holdSeconds: number; holdOutcome: string } | undefined {
    return this.#hold?.metrics(closingStartedAt);
  }

  /** (Re)arm the timer for the start of closing, from what the hold knows now. */
  #armClosing(on: ScheduleHandlers): void {
    const times = this.#times;
    if (!times || this.#closingStarted) return;
    this.#timer.at(this.#hold?.closingStartAt() ?? times.propagatedAt, () => this.#startClosing(times, on));
  }

  #startClosing(times: DrainTimes, on: ScheduleHandlers): void {
    const { budget, minWindowShare } = this.#options;
    this.#closingStarted = true;
    const now = performance.now();
    const groupWindowEnd = this.#hold?.begin(now, budget);
    const windowEnd = windowEndAt(times, now, this.#span.drainWindowMs * minWindowShare, groupWindowEnd);
    on.closing(now, windowEnd, Math.max(0, now - times.propagatedAt));
    // Unless the handler found nothing left to close and stopped the schedule. (A window that already ended
    // runs windowEnded() now, after closing began.)
    if (this.#times === times) this.#timer.at(windowEnd, () => on.windowEnded());
  }
}
