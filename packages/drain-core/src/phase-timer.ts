// One re-armable timer that runs its function at a monotonic time, never before it: setTimeout counts from
// the loop's cached clock and can fire a millisecond early, and "no close before t0 + propagation" is a promise.

export class PhaseTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Run `fn` at performance.now() time `at` (now if past), replacing whatever was armed. */
  at(at: number, fn: () => void): void {
    this.clear();
    const check = () => {
      const remaining = at - performance.now();
      if (remaining > 0) {
        this.#timer = setTimeout(check, Math.ceil(remaining));
      } else {
        this.#timer = undefined;
        fn();
      }
    };
    check();
  }

  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
