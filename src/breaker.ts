/**
 * A circuit breaker for calls to the backend: after a few failed calls in a row, the session
 * makes no more of them for a while, so that an outage costs its requests nothing. Without it,
 * each request of a hung backend waited for its read's and its write's timeouts (2 s each by
 * default), and each request of a backend that is down reported two failures. A session has one
 * breaker for its reads and one for its writes: a store that refuses writes and still reads (a
 * Redis at `maxmemory`, a full disk) goes on serving what it holds.
 *
 * @module
 */

/** Failed calls in a row that start a rest: 3. */
export const FAILURES_IN_A_ROW = 3;
/** The first rest, doubled after each failed probe: 1,000 ms. */
export const FIRST_REST = 1000;
/** The longest rest: 10,000 ms. A backend that comes back is used again this soon at the latest. */
export const LONGEST_REST = 10_000;

/**
 * What a call may do: go to the backend (`"call"`), go as the probe that tells whether a resting
 * backend is back (`"probe"`; no request waits for it), or not go (`undefined`).
 */
export type Call = "call" | "probe" | undefined;

/**
 * The breaker's state: working, or resting after failures. Once a rest is over, the next call is
 * a probe, made in the background: its success ends the rest, its failure starts a rest twice as
 * long (up to {@linkcode LONGEST_REST}). A call made before a rest began and failing during it
 * counts for nothing; one succeeding ends the rest, as any success does.
 *
 * @example Three failures in a row start a rest
 * ```ts
 * import { Breaker } from "./breaker.ts";
 *
 * let now = 0;
 * const breaker = new Breaker(() => now);
 * for (let i = 0; i < 3; i++) breaker.failed(breaker.ask());
 * console.log(breaker.working, breaker.ask()); // false undefined
 * now = 1000;
 * console.log(breaker.ask(), breaker.ask()); // probe undefined
 * breaker.passed();
 * console.log(breaker.working); // true
 * ```
 */
export class Breaker {
  #clock: () => number;
  #failures = 0;
  /** How long the current rest is, in ms; 0 while working. */
  #rest = 0;
  #restUntil = 0;
  /** When the probe under way went, if one is: one that never settles is given up after the longest rest. */
  #probeAt: number | undefined;

  /**
   * @param clock A monotonic clock in ms (by default `performance.now`, which no step of the wall
   *   clock moves).
   */
  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /** Whether calls go to the backend: it is not resting. */
  get working(): boolean {
    return this.#rest === 0;
  }

  /**
   * Whether a call goes to the backend, and how.
   *
   * @returns `"call"` while working; while resting, `"probe"` once when the rest is over (and
   *   none is under way, or the one under way went {@linkcode LONGEST_REST} ago), otherwise
   *   `undefined`.
   */
  ask(): Call {
    if (this.#rest === 0) return "call";
    const now = this.#clock();
    if (now < this.#restUntil) return undefined;
    // (A probe that never settles, a custom storage's broken promise, would keep it resting.)
    if (this.#probeAt !== undefined && now < this.#probeAt + LONGEST_REST) return undefined;
    this.#probeAt = now;
    return "probe";
  }

  /** A call succeeded: the backend works. */
  passed(): void {
    this.#failures = 0;
    this.#rest = 0;
    this.#probeAt = undefined;
  }

  /**
   * A call failed.
   *
   * @param call How it was made ({@linkcode ask}).
   * @returns Whether the failure counts: `false` for a call made before the rest began that
   *   failed during it (one of the requests under way when the backend failed), which tells
   *   nothing that the failures that began the rest did not.
   */
  failed(call: Call): boolean {
    if (call === "probe") this.#probeAt = undefined;
    if (call === "probe" && this.#rest > 0) {
      this.#restFor(Math.min(this.#rest * 2, LONGEST_REST));
    } else if (this.#rest > 0) {
      return false;
    } else if (++this.#failures >= FAILURES_IN_A_ROW) {
      this.#restFor(FIRST_REST);
    }
    return true;
  }

  /**
   * A call that was let go was not made after all (a write its URL's invalidation dropped): the
   * probe it would have been goes with the next call.
   *
   * @param call How it was to be made ({@linkcode ask}).
   */
  dropped(call: Call): void {
    if (call === "probe") this.#probeAt = undefined;
  }

  #restFor(ms: number): void {
    this.#rest = ms;
    this.#restUntil = this.#clock() + ms;
  }
}
