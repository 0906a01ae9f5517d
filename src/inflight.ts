/**
 * Request coalescing: the requests at the origin right now, by cache key, so that identical
 * concurrent requests share one origin request instead of each sending its own.
 *
 * The first request for a key leads: it goes to the origin and settles an {@linkcode Outcome}
 * that every request waiting on it receives. A waiter gives up only on its own abort signal, and
 * a leader always settles (`release` settles whatever was not settled yet), so no waiter hangs.
 *
 * @module
 */

import type { CacheEntry } from "./record.ts";

/** What a leading request ended with, as its waiters receive it. */
export type Outcome =
  /**
   * A response the waiters may use, as if it had been stored already, and the leader's mark
   * (`CacheAccess.mark`): a waiter that wakes after an invalidation of its URL does not use it.
   */
  | { kind: "entry"; entry: CacheEntry; asked: number }
  /** The origin failed (network error, broken body): every waiter fails the same way. */
  | { kind: "error"; error: unknown }
  /** Nothing to share (not storable, too large): each waiter asks the origin itself. */
  | { kind: "unshared" }
  /**
   * What the leader got is not for the waiters (its own caller aborted, or its URL was invalidated
   * since it asked): one waiter takes the lead and asks again.
   */
  | { kind: "retry" };

/** Nothing to share. */
export const UNSHARED: Outcome = { kind: "unshared" };
/** The leader gave up, or what it got is out of date. */
export const RETRY: Outcome = { kind: "retry" };

/** The lead for one key, held by the request that is at the origin. */
export interface Lead {
  /**
   * Hands an outcome to every request waiting now or arriving before `release`; only the first
   * call counts.
   *
   * @param outcome The outcome.
   */
  settle(outcome: Outcome): void;
  /**
   * Gives up the lead, so the next request for the key leads again, and settles `outcome` if
   * nothing was settled yet.
   *
   * @param outcome The outcome, by default {@linkcode UNSHARED}.
   */
  release(outcome?: Outcome): void;
}

/** A lookup in progress, see {@linkcode Inflight.enter}. */
export interface Ticket {
  /**
   * The outcome of the lead that ran when the lookup started or was released while it ran, if
   * any: what a lookup that missed should join.
   *
   * @returns The outcome, or `undefined`.
   */
  missed(): Promise<Outcome> | undefined;
  /** Ends the lookup. */
  leave(): void;
}

/**
 * The leads of one session.
 *
 * @example The first request leads, the second waits for its outcome
 * ```ts
 * import { Inflight, UNSHARED } from "./inflight.ts";
 *
 * const inflight = new Inflight();
 * const lead = inflight.lead("key")!;
 * console.log(inflight.lead("key")); // undefined: "key" has a leader
 * const waiting = inflight.join("key", undefined, { mayLead: true, signal: undefined });
 * lead.release();
 * console.log(await waiting === UNSHARED); // true
 * ```
 */
export class Inflight {
  #leads = new Map<string, Promise<Outcome>>();
  /** Lookups in progress per key, and the last lead released while any of them ran. */
  #lookups = new Map<string, { count: number; released?: { seq: number; outcome: Promise<Outcome> } }>();
  #seq = 0;

  /**
   * Registers a lookup of the backend that is about to start. A lead for the key may start and
   * end while it runs; if the lookup then misses (it read before that lead's write), the ticket
   * still knows that lead's outcome.
   *
   * @param key The cache key.
   * @returns The ticket; `leave()` it once the lookup is done.
   */
  enter(key: string): Ticket {
    const seq = ++this.#seq;
    const before = this.#leads.get(key);
    const state = this.#lookups.get(key) ?? { count: 0 };
    state.count++;
    this.#lookups.set(key, state);
    let left = false;
    return {
      missed: () => {
        const released = this.#lookups.get(key)?.released;
        return released !== undefined && released.seq > seq ? released.outcome : before;
      },
      leave: () => {
        if (left) return;
        left = true;
        if (--state.count === 0 && this.#lookups.get(key) === state) this.#lookups.delete(key);
      },
    };
  }

  /**
   * Takes the lead for a key, unless another request holds it.
   *
   * @param key The cache key.
   * @returns The lead, or `undefined` when the key has a leader.
   */
  lead(key: string): Lead | undefined {
    if (this.#leads.has(key)) return undefined;
    let resolve!: (outcome: Outcome) => void;
    const promise = new Promise<Outcome>((done) => resolve = done);
    this.#leads.set(key, promise);
    let settled = false;
    let released = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    return {
      settle,
      release: (outcome = UNSHARED) => {
        // Leave first: a waiter that wakes up on a retry must find the key free to lead it.
        // (A lead already retired as outdated, see `join`, leaves no outcome to lookups.)
        if (!released) {
          released = true;
          if (this.#leads.get(key) === promise) {
            this.#leads.delete(key);
            const lookups = this.#lookups.get(key);
            if (lookups !== undefined) lookups.released = { seq: ++this.#seq, outcome: promise };
          }
        }
        settle(outcome);
      },
    };
  }

  /**
   * Waits for an identical request that is at the origin and returns its outcome; with none, takes
   * the lead at once (before any await, so that of simultaneous requests exactly one leads). When
   * the leader's caller aborts, the first waiter to wake up leads in its place.
   *
   * @param key The cache key.
   * @param missed The outcome of a lead that ended while this request read the backend
   *   ({@linkcode Ticket.missed}).
   * @param options `mayLead`: whether this request may lead; `signal`: its caller's abort signal;
   *   `outdated`: whether a response a leader got was invalidated since it asked for it. Such a
   *   response is not for this request, nor for any that comes later: its lead is retired (the
   *   leader keeps it only to store, which the invalidation undoes), and this request asks again.
   * @returns The outcome, the lead, or `undefined` when no one leads and this request may not.
   * @throws {unknown} The signal's reason when the caller aborts while it waits.
   */
  async join(
    key: string,
    missed: Promise<Outcome> | undefined,
    options: {
      mayLead: boolean;
      signal: AbortSignal | null | undefined;
      outdated?: (outcome: Extract<Outcome, { kind: "entry" }>) => boolean;
    },
  ): Promise<Outcome | { kind: "lead"; lead: Lead } | undefined> {
    let shared = this.#leads.get(key) ?? missed;
    while (true) {
      if (shared === undefined) {
        const lead = options.mayLead ? this.lead(key) : undefined;
        return lead && { kind: "lead", lead };
      }
      const outcome = await unlessAborted(shared, options.signal);
      if (outcome.kind === "entry" && options.outdated?.(outcome)) {
        if (this.#leads.get(key) === shared) this.#leads.delete(key);
      } else if (outcome !== RETRY) return outcome;
      shared = this.#leads.get(key);
    }
  }
}

/**
 * Waits for a promise unless an abort signal fires first; then rejects with the signal's reason,
 * as fetch does.
 *
 * @param promise What to wait for.
 * @param signal The caller's signal, if any.
 * @returns What the promise resolves to.
 * @throws {unknown} The signal's reason when it aborts first.
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
