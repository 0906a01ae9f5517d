/**
 * Time limits for many operations at once on one timer: a remote backend gives each command a
 * deadline without arming and clearing a timer per command (measured on Deno: ~10 µs of a Redis
 * hit). And the waits the session bounds itself: for a write ({@linkcode settledWithin}), and for
 * a background refresh ({@linkcode REFRESH_TIMEOUT}).
 *
 * @module
 */

/** One operation being timed. */
interface Watched {
  at: number;
  expire(): void;
}

/**
 * Deadlines of one length, checked by one timer that runs only while operations are pending and
 * never keeps the process alive by itself. An operation is given up between `ms` and `1.25 × ms`
 * after it started.
 *
 * @example Give up on a call that hangs
 * ```ts
 * import { Deadlines } from "./deadline.ts";
 *
 * const deadlines = new Deadlines(50);
 * let timer: ReturnType<typeof setTimeout> | undefined;
 * const slow = new Promise((resolve) => timer = setTimeout(resolve, 1000)); // a socket, say
 * const outcome = await deadlines.race(slow, () => new Error("no answer within 50 ms")).catch((error: Error) => error);
 * clearTimeout(timer);
 * console.log(outcome instanceof Error && outcome.message); // no answer within 50 ms
 * ```
 */
export class Deadlines {
  readonly ms: number;
  #pending = new Set<Watched>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param ms How long an operation may take, in ms.
   */
  constructor(ms: number) {
    this.ms = ms;
  }

  /**
   * Settles as `work` does, or rejects with `error()` once the deadline has passed.
   *
   * @param work The operation.
   * @param error The error to reject with when it takes too long.
   * @returns What `work` resolves to.
   */
  race<T>(work: Promise<T>, error: () => Error): Promise<T>;
  /**
   * Settles as `work` does, its value mapped by `map` (and its failure by `recover`), or rejects
   * with `error()` once the deadline has passed: one promise where
   * `race(work, error).then(map, recover)` makes two.
   *
   * @param work The operation.
   * @param error The error to reject with when it takes too long.
   * @param map What to make of the value (a throw rejects).
   * @param recover What to make of a failure of `work` (a throw rejects; without it, the failure).
   * @returns What `map` (or `recover`) returns.
   */
  race<T, U>(
    work: Promise<T>,
    error: () => Error,
    map?: (value: T) => U,
    recover?: (reason: unknown) => U,
  ): Promise<U>;
  race<T, U>(
    work: Promise<T>,
    error: () => Error,
    map?: (value: T) => U,
    recover?: (reason: unknown) => U,
  ): Promise<T | U> {
    return new Promise<T | U>((resolve, reject) => {
      // The monotonic clock: a step of the wall clock (NTP, a VM resumed) moves no deadline.
      const watched: Watched = { at: performance.now() + this.ms, expire: () => reject(error()) };
      this.#pending.add(watched);
      this.#timer ??= this.#start();
      // (Past its deadline, what `work` settles with is neither mapped nor recovered: a `recover`
      // that tries again would start work for no one, and fail unhandled.)
      work.then(
        (value) => {
          if (!this.#pending.delete(watched)) return;
          try {
            resolve(map === undefined ? value : map(value));
          } catch (reason) {
            reject(reason);
          }
        },
        (reason) => {
          if (!this.#pending.delete(watched)) return;
          try {
            if (recover === undefined) reject(reason);
            else resolve(recover(reason));
          } catch (failure) {
            reject(failure);
          }
        },
      );
    });
  }

  #start(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => this.#sweep(), Math.max(1, Math.ceil(this.ms / 4)));
    unref(timer);
    return timer;
  }

  #sweep(): void {
    const now = performance.now();
    for (const watched of this.#pending) {
      if (watched.at > now) continue;
      this.#pending.delete(watched);
      watched.expire();
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/**
 * Lets the process exit while the timer runs: the timer's own `unref` (Node, Bun, and Deno 2.9,
 * whose timers are objects too), or `Deno.unrefTimer` for a Deno that gives timers as numbers.
 */
function unref(timer: ReturnType<typeof setInterval> | ReturnType<typeof setTimeout>): void {
  if (typeof timer === "number") {
    (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer);
  } else (timer as { unref?: () => void }).unref?.();
}

/**
 * Longest a background refresh (`stale-while-revalidate`) may take, its body included: 30 s. No
 * caller waits for it, and an origin that never answers must not hold a connection for each
 * stale URL served until the session closes.
 */
export const REFRESH_TIMEOUT = 30_000;

/**
 * Longest the cache reads a body on alone once its caller has cancelled it: 30 s. No caller waits
 * for it, and a body that never ends (a live feed, a long poll) must not hold a connection for
 * each cancelled request until the session closes. A body not read whole by then is not stored.
 */
export const CANCELLED_READ_TIMEOUT = 30_000;

/**
 * Longest the cache reads on the body of a redirect that the session followed: 500 ms. `fetch`
 * never reads a redirect's body; the cache stores the redirect only if its body comes by then,
 * so that a body that stalls holds neither its connection nor the requests that wait for it.
 */
export const FOLLOWED_READ_TIMEOUT = 500;

/**
 * Longest that requests waiting on an identical one (coalesced) wait for its body once its
 * response has come, when the body has no declared length: 5 s, as nginx's
 * `proxy_cache_lock_timeout`. They then ask the origin themselves, so a body that never ends (a
 * live feed that is not `text/event-stream`) holds none of them for longer; the leader still
 * stores it if it ends. A body of declared length ends: its waiters wait for it, however slowly
 * it comes, rather than each download it again, as long as it comes: once the cache has read
 * nothing of it for 5 to 10 s (it stalls, its connection half open), they ask the origin
 * themselves too. (One the cache reads whole by `arrayBuffer()`, of 1 MiB at most, as it does
 * where no request waited when its read began, shows no progress after that: its waiters wait for
 * its end 5 to 10 s from then.)
 */
export const SHARED_BODY_WAIT = 5000;

/**
 * The error of a storage operation given up at its time limit: a `TimeoutError` that names the
 * server, as each backend's is.
 *
 * @param server The server, as the message names it (`"Redis"`).
 * @param operation What was given up (`"read"`, `"connect"`).
 * @param ms The time limit, in ms.
 * @returns The error.
 */
export function noAnswer(server: string, operation: string, ms: number): Error {
  const error = new Error(`Cannot ${operation}: no answer from ${server} within ${ms} ms`);
  error.name = "TimeoutError";
  return error;
}

/**
 * Calls `expire` after `ms`, unless the returned function is called first; the timer never keeps
 * the process alive by itself.
 *
 * @param ms The time, in ms.
 * @param expire What to do then.
 * @returns Clears the timer.
 */
export function after(ms: number, expire: () => void): () => void {
  const timer = setTimeout(expire, ms);
  unref(timer);
  return () => clearTimeout(timer);
}

/** Longest wait, once a body has ended, for the cache's write of it: 2,000 ms. */
export const STORE_WAIT_LIMIT = 2000;

/**
 * Waits for `work` to settle, {@linkcode STORE_WAIT_LIMIT} ms at most.
 *
 * @param work The work.
 */
export async function settledWithin(work: Promise<unknown>): Promise<void> {
  // A write to memory or to a synchronous database is done within a few microtasks: wait those
  // out before arming a timer, which would cost more than the write itself.
  if (await settlesSoon(work)) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, STORE_WAIT_LIMIT));
  await Promise.race([work.then(() => {}, () => {}), late]);
  clearTimeout(timer);
}

/**
 * Whether `work` settles within a few microtask turns: work that waits on no I/O, as a write to
 * memory, or the read of a body that has all arrived.
 *
 * @param work The work.
 * @param turns How many turns it gets ({@linkcode QUICK_TURNS} by default).
 * @returns Whether it has settled.
 */
export async function settlesSoon(work: Promise<unknown>, turns: number = QUICK_TURNS): Promise<boolean> {
  let settled = false;
  work.then(() => settled = true, () => settled = true);
  for (let turn = 0; turn < turns && !settled; turn++) await undefined;
  return settled;
}

/** Microtask turns that work gets to finish before it is taken for work that waits on I/O. */
export const QUICK_TURNS = 16;
