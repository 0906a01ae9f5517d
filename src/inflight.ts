/**
 * Request coalescing: the requests at the origin right now, by cache key, so that identical
 * concurrent requests share one origin request instead of each sending its own.
 *
 * The first request for a key leads: it goes to the origin and settles an {@linkcode Outcome}
 * that every request waiting on it receives. A waiter gives up only on its own abort signal, or
 * once the response's fields show that it is not for that waiter (`Vary`), and a leader always
 * settles (`release` settles whatever was not settled yet), so no waiter hangs.
 * The origin request goes on while anyone wants what it brings: a leader's caller that aborts
 * fails at once, but the request stops only once no waiter waits either ({@linkcode Lead.signal}).
 *
 * @module
 */

import { followedBody, unlessAborted } from "./abort_follow.ts";
import { after, SHARED_BODY_WAIT } from "./deadline.ts";
import type { CacheEntry } from "./record.ts";

/** What a leading request ended with, as its waiters receive it. */
export type Outcome =
  /**
   * A response the waiters may use, as if it had been stored already, and the leader's mark
   * (`CacheAccess.mark`): a waiter that wakes after an invalidation of its URL does not use it.
   * `alias`: the key of the slot it stands in when the leader reached it through a redirect alias
   * (a revalidated entry that a redirect fetch followed led to): the waiters serve it as found there.
   */
  | { kind: "entry"; entry: CacheEntry; asked: number; alias?: string }
  /** The origin failed (network error, broken body): every waiter fails the same way. */
  | { kind: "error"; error: unknown }
  /**
   * The origin answered with an error status (a 5xx), and the leader served its stale entry in its
   * place (stale-if-error): a waiter that may serve stale does, any other asks the origin itself.
   */
  | { kind: "error-status"; status: number }
  /** Nothing to share (not storable, too large): each waiter asks the origin itself. */
  | { kind: "unshared" }
  /**
   * What the leader got is not for the waiters (its origin request was aborted, its caller and
   * every waiter having given up, or its URL was invalidated since it asked): one waiter takes the
   * lead and asks again.
   */
  | { kind: "retry" };

/** Nothing to share. */
export const UNSHARED: Outcome = { kind: "unshared" };
/** The origin request was given up, or what it got is out of date. */
export const RETRY: Outcome = { kind: "retry" };

/** The lead for one key, held by the request that is at the origin. */
export interface Lead {
  /**
   * The origin request's signal, when the leader's caller has one. It aborts, with that signal's
   * reason, once that has aborted and no waiter waits any more (none joined, each aborted, or the
   * outcome was settled): until then the waiters still want the response.
   */
  readonly signal: AbortSignal | undefined;
  /**
   * Hands an outcome to every request waiting now or arriving before `release`; only the first
   * call counts. An entry whose fields were not announced is announced first
   * ({@linkcode Lead.announce}): the waiters it does not answer receive {@linkcode UNSHARED}.
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
  /**
   * Keeps the leader's caller's signal aborting the origin request until `body` has ended (or is
   * collected), also after `release`, when nothing is shared any more and the caller alone reads
   * it (the lead follows the signal until then only).
   *
   * @param body The origin response's body, which nobody reads yet.
   * @returns The body to hand to the caller in its place ({@linkcode followedBody}).
   */
  follow(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array>;
  /**
   * Settles {@linkcode UNSHARED} after `ms`, unless something was settled first: the waiters then
   * ask the origin themselves.
   *
   * @param ms How long the waiters wait, in ms.
   */
  unshareAfter(ms: number): void;
  /**
   * Tells that the body the waiters wait for is read, and came on: while a waiter waits, once
   * {@linkcode SHARED_BODY_WAIT} passes without another call (a body that stalls),
   * {@linkcode UNSHARED} is settled, unless something was settled first: the waiters then ask the
   * origin themselves.
   */
  progressed(): void;
  /**
   * Whether a request still waits for the outcome (none settled yet): the origin's body is then
   * not the leader's caller's alone, whatever that caller does with it.
   *
   * @returns Whether one waits.
   */
  wanted(): boolean;
  /**
   * Tells the waiters what the response varies on, once its fields have come: those it does not
   * answer (their `Vary` headers differ) receive {@linkcode UNSHARED} at once, rather than once
   * its body has come, and ask the origin themselves.
   *
   * @param fields The response's entry, without its body.
   */
  announce(fields: Fields): void;
}

/** A response as its waiters see it before its body comes: its entry, without the body. */
export type Fields = Omit<CacheEntry, "body">;

/** A waiter that leaves once the response's fields show that it is not for it. */
interface Chooser {
  accepts: (fields: Fields) => boolean;
  /** Stops waiting: no longer counted among those that want the response, it receives {@linkcode UNSHARED}. */
  leave: () => void;
}

/** A lead as the requests that join it see it. */
export interface Shared {
  /**
   * Waits for the lead's outcome, as one of those that want it, until `signal` aborts.
   *
   * @param signal The waiting caller's abort signal.
   * @param accepts Whether a response with these fields answers the waiter; when it does not
   *   ({@linkcode Lead.announce}), the waiter receives {@linkcode UNSHARED} at once.
   * @returns The outcome.
   * @throws {unknown} The signal's reason when it aborts first.
   */
  wait(signal: AbortSignal | null | undefined, accepts?: (fields: Fields) => boolean): Promise<Outcome>;
}

/** A lookup in progress, see {@linkcode Inflight.enter}. */
export interface Ticket {
  /**
   * The outcome of the lead that ran when the lookup started or was released while it ran, if
   * any: what a lookup that missed should join.
   *
   * @returns The outcome, or `undefined`.
   */
  missed(): Shared | undefined;
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
  #leads = new Map<string, Shared>();
  /** Lookups in progress per key, and the last lead released while any of them ran. */
  #lookups = new Map<string, { count: number; released?: { seq: number; shared: Shared } }>();
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
        return released !== undefined && released.seq > seq ? released.shared : before;
      },
      leave: () => {
        if (left) return;
        left = true;
        if (--state.count === 0 && this.#lookups.get(key) === state) this.#lookups.delete(key);
      },
    };
  }

  /**
   * The lead held for a key, as the requests that join it see it.
   *
   * @param key The cache key.
   * @returns The lead, or `undefined` when no request leads for the key.
   */
  held(key: string): Shared | undefined {
    return this.#leads.get(key);
  }

  /**
   * Takes the lead for a key, unless another request holds it.
   *
   * @param key The cache key.
   * @returns The lead, or `undefined` when the key has a leader.
   */
  lead(key: string, signal?: AbortSignal | null): Lead | undefined {
    if (this.#leads.has(key)) return undefined;
    let resolve!: (outcome: Outcome) => void;
    const promise = new Promise<Outcome>((done) => resolve = done);
    // (Made only for a leader with a signal: a request without one cannot abort.)
    const origin = signal ? new AbortController() : undefined;
    let settled = false;
    let released = false;
    /** Waiters that joined and have not aborted. */
    let waiting = 0;
    /** The response's fields, once announced, and the waiters that wait for them to choose. */
    let fields: Fields | undefined;
    const choosing = new Set<Chooser>();
    // Once the leader's caller has aborted, the origin request goes on only for the waiters.
    const abandon = () => {
      if (signal?.aborted && (settled || waiting === 0)) origin?.abort(signal.reason);
    };
    const shared: Shared = {
      wait: async (waiter, accepts) => {
        if (fields !== undefined && accepts?.(fields) === false) return UNSHARED;
        waiting++;
        watch();
        // (Once: a waiter that the response's fields turned away may still abort before it wakes.)
        let counted = true;
        const uncount = () => {
          if (counted) waiting--;
          counted = false;
        };
        let chooser: Chooser | undefined;
        const wanted = accepts === undefined || fields !== undefined
          ? promise
          : new Promise<Outcome>((resolve) => {
            chooser = { accepts, leave: () => (uncount(), resolve(UNSHARED)) };
            choosing.add(chooser);
            promise.then(resolve);
          });
        try {
          return await unlessAborted(wanted, waiter);
        } catch (error) {
          uncount();
          abandon();
          throw error;
        } finally {
          if (chooser !== undefined) choosing.delete(chooser);
        }
      },
    };
    this.#leads.set(key, shared);
    // (Followed only while the lead is held, see `follow`: the signal may serve a whole application.)
    signal?.addEventListener("abort", abandon, { once: true });
    abandon();
    /** Stops the timer of `unshareAfter`, once there is one. */
    let patient: (() => void) | undefined;
    /** How often the body came on (`progressed`). */
    let progress = 0;
    /** Stops the timer that watches the body's progress, while there is one. */
    let watching: (() => void) | undefined;
    // Only while a waiter waits for a body being read: a miss that no one waits for arms no timer.
    const watch = () => {
      if (progress === 0 || waiting === 0 || settled || watching !== undefined) return;
      const checked = progress;
      watching = after(SHARED_BODY_WAIT, () => {
        watching = undefined;
        if (progress === checked && waiting > 0) settle(UNSHARED);
        else watch();
      });
    };
    const announce = (announced: Fields) => {
      fields = announced;
      for (const chooser of choosing) {
        if (chooser.accepts(announced)) continue;
        choosing.delete(chooser);
        chooser.leave();
      }
      abandon();
    };
    const settle = (outcome: Outcome) => {
      if (settled) return;
      // An entry that comes with no announcement (a 304's freshened one) turns away the waiters
      // it does not answer all the same: they receive UNSHARED, as from its fields.
      if (outcome.kind === "entry" && fields === undefined) announce(outcome.entry);
      settled = true;
      patient?.();
      watching?.();
      resolve(outcome);
      abandon();
    };
    return {
      signal: origin?.signal,
      settle,
      release: (outcome = UNSHARED) => {
        // Leave first: a waiter that wakes up on a retry must find the key free to lead it.
        // (A lead already retired as outdated, see `join`, leaves no outcome to lookups.)
        if (!released) {
          released = true;
          signal?.removeEventListener("abort", abandon);
          if (this.#leads.get(key) === shared) {
            this.#leads.delete(key);
            const lookups = this.#lookups.get(key);
            if (lookups !== undefined) lookups.released = { seq: ++this.#seq, shared };
          }
        }
        settle(outcome);
      },
      follow: (body) => signal ? followedBody(body, signal, abandon) : body,
      wanted: () => !settled && waiting > 0,
      unshareAfter: (ms) => {
        if (!settled) patient = after(ms, () => settle(UNSHARED));
      },
      progressed: () => {
        progress++;
        watch();
      },
      announce,
    };
  }

  /**
   * Waits for an identical request that is at the origin and returns its outcome; with none, takes
   * the lead at once (before any await, so that of simultaneous requests exactly one leads). When
   * the lead's origin request was aborted (its caller and every waiter gave up), or what it got is
   * out of date, the first waiter to wake up leads in its place.
   *
   * @param key The cache key.
   * @param missed The outcome of a lead that ended while this request read the backend
   *   ({@linkcode Ticket.missed}).
   * @param options `mayLead`: whether this request may lead; `signal`: its caller's abort signal;
   *   `outdated`: whether a response a leader got was invalidated since it asked for it. Such a
   *   response is not for this request, nor for any that comes later: its lead is retired (the
   *   leader keeps it only to store, which the invalidation undoes), and this request asks again;
   *   `accepts`: whether a response with the fields a leader announces answers this request
   *   ({@linkcode Lead.announce}).
   * @returns The outcome, the lead, or `undefined` when no one leads and this request may not.
   * @throws {unknown} The signal's reason when the caller aborts while it waits.
   */
  async join(
    key: string,
    missed: Shared | undefined,
    options: {
      mayLead: boolean;
      signal: AbortSignal | null | undefined;
      outdated?: (outcome: Extract<Outcome, { kind: "entry" }>) => boolean;
      accepts?: (fields: Fields) => boolean;
    },
  ): Promise<Outcome | { kind: "lead"; lead: Lead } | undefined> {
    let shared = this.#leads.get(key) ?? missed;
    while (true) {
      if (shared === undefined) {
        const lead = options.mayLead ? this.lead(key, options.signal) : undefined;
        return lead && { kind: "lead", lead };
      }
      const outcome = await shared.wait(options.signal, options.accepts);
      if (outcome.kind === "entry" && options.outdated?.(outcome)) {
        if (this.#leads.get(key) === shared) this.#leads.delete(key);
      } else if (outcome !== RETRY) return outcome;
      shared = this.#leads.get(key);
    }
  }
}

/**
 * A leading request's answer to its own caller: its exchange with the origin goes on for the
 * waiters (on the lead's signal), but the caller gives up at once on its own signal until the
 * response has arrived, as with fetch (after that, its body fails: `takeBody`). A response that
 * arrives for a caller who gave up is for the waiters alone: the caller's body is let go of.
 *
 * @param signal The caller's signal.
 * @param exchange The exchange; it calls `arrived` once the origin's response has arrived.
 * @returns The caller's response.
 * @throws {unknown} The signal's reason when it aborts before the response.
 */
export function answerLeader<T extends Response>(
  signal: AbortSignal,
  exchange: (arrived: () => void) => Promise<T>,
): Promise<T> {
  let arrived!: () => void;
  const responded = new Promise<void>((resolve) => arrived = resolve);
  const work = exchange(arrived);
  work.then(arrived, arrived);
  return unlessAborted(responded, signal).then(() => work, (reason) => {
    work.then((late) => late.body?.cancel().catch(() => {}), () => {});
    throw reason;
  });
}
