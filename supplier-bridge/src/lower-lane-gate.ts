/**
 * The high lane's precedence inside one bridge process. Lane consumers of their own keep a bulk
 * backlog out of an OTP's fetch, and a high-lane backlog pauses the lower lanes; but an OTP that
 * arrives while a campaign drains meets no backlog, only a busy process: every await of its pass
 * (the Redis scripts, the provider call, the outcome's publish) queues behind the callbacks of the
 * hundreds of bulk passes in flight. Measured on two cores: OTP accept → submitted went from a p50
 * of 10 ms to about 1 s.
 *
 * So while high-lane passes are about (one started within `activeWindowMs`), the lower lanes'
 * passes (normal and bulk, first sends and retry rounds alike) start only under a limit, and the
 * limit follows the process's event-loop delay: halved in every window the loop was late by more
 * than `targetDelayMs`, raised by one in every window it was not (AIMD, as TCP and adaptive
 * concurrency limiters do). A limit never falls below `floor`, so bulk keeps flowing; with no high
 * lane traffic the gate is open and the lower lanes run at their own concurrency.
 *
 * A pass waiting for a provider's answer runs nothing: it gives its slot up for the wait and
 * `resume`s to go on, ahead of passes not yet started. Kept, the waits held the slots: with one
 * provider hanging on every fifth bulk send until its 2 s timeout, bulk drained at 220/s through
 * the healthy one, and at about 1,000/s once waits gave their slots up (`bench/hol.ts`).
 *
 * Pure: the caller feeds it the time and the delay it measured.
 */
export interface LowerLaneGateOptions {
  now: () => number;
  /** How long after a high-lane pass started the gate still counts the high lane as active. */
  activeWindowMs: number;
  /** Event-loop delay in a window above which the limit is halved. */
  targetDelayMs: number;
  /** The least number of lower-lane passes allowed in flight while the gate is closing. */
  floor: number;
}

export class LowerLaneGate {
  readonly #options: LowerLaneGateOptions;
  #inFlight = 0;
  /** Undefined while the gate is open. */
  #limit: number | undefined;
  #lastHighAt = Number.NEGATIVE_INFINITY;
  #held = false;
  /** New passes waiting for a slot, and (served first) passes waiting to go on after a wait. */
  readonly #waiting: Array<() => void> = [];
  readonly #resuming: Array<() => void> = [];

  constructor(options: LowerLaneGateOptions) {
    this.#options = { ...options, floor: Math.max(1, Math.floor(options.floor)) };
  }

  /** The current limit on lower-lane passes in flight, or undefined while there is none. */
  get limit(): number | undefined {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#waiting.length + this.#resuming.length;
  }

  /**
   * While held (the high lane has a backlog), no new pass starts whatever the limit; passes
   * going on after a wait still do, so the batches already running can end.
   */
  hold(held: boolean): void {
    this.#held = held;
    this.#wake();
  }

  /** A high-lane pass starts. */
  highLanePass(): void {
    this.#lastHighAt = this.#options.now();
  }

  /**
   * One window's verdict: `delayMs` is how late the event loop ran in it. Closes the gate when
   * the high lane is active (starting from what is in flight), adjusts the limit while it is,
   * and opens it once the high lane has been quiet for a window.
   */
  tick(delayMs: number): void {
    const active = this.#options.now() - this.#lastHighAt <= this.#options.activeWindowMs;
    if (!active) {
      this.#limit = undefined;
    } else {
      const current = this.#limit ?? Math.max(this.#inFlight, this.#options.floor);
      this.#limit =
        delayMs > this.#options.targetDelayMs
          ? Math.max(this.#options.floor, Math.floor(current / 2))
          : current + 1;
    }
    this.#wake();
  }

  /** Waits for a lower-lane slot; call the returned function when the pass is done. */
  enter(): Promise<() => void> {
    return this.#take(false);
  }

  /**
   * Waits for a slot again, for a pass that gave its own up while it only waited (a provider's
   * answer): it is taken ahead of the passes not yet started, since finishing begun work frees
   * what that work holds (its claim, its batch) sooner than starting more.
   */
  resume(): Promise<() => void> {
    return this.#take(true);
  }

  async #take(resuming: boolean): Promise<() => void> {
    const line = resuming ? this.#resuming : this.#waiting;
    // First come, first served in each line: a pass does not overtake the ones already waiting.
    if (line.length === 0 && this.#admits(resuming)) this.#inFlight++;
    // A woken waiter's slot is counted when it is woken, before its continuation runs.
    else await new Promise<void>((resolve) => line.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      this.#wake();
    };
  }

  #admits(resuming: boolean): boolean {
    if (!resuming && this.#held) return false;
    return this.#limit === undefined || this.#inFlight < this.#limit;
  }

  #wake(): void {
    for (;;) {
      const line = this.#resuming.length > 0 ? this.#resuming : this.#waiting;
      if (line.length === 0 || !this.#admits(line === this.#resuming)) return;
      this.#inFlight++;
      line.shift()!();
    }
  }
}
