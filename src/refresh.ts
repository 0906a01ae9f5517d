/**
 * Background refreshes (RFC 5861 §3): a stale response served under `stale-while-revalidate` is
 * asked for again behind it, once at a time per entry, within a time limit, its failure reported.
 *
 * @module
 */

import type { CacheAccess } from "./cache_access.ts";
import { REFRESH_TIMEOUT } from "./deadline.ts";
import { withSignal } from "./request.ts";
import type { CachedResponse } from "./response.ts";
import { CALLER_VALIDATORS, type Flow, type Hit, without } from "./serve.ts";
import type { Found } from "./store_plan.ts";

/**
 * Request fields a background refresh leaves out: the caller's `Range` (and `If-Range`), and the
 * caller's own validators, which the cache answered itself.
 */
const CALLER_ONLY: readonly string[] = ["range", "if-range", ...CALLER_VALIDATORS];

/** A session's background refreshes. */
export class Refreshes {
  #network: (flow: Flow, stale: Found, read: number) => Promise<CachedResponse>;
  #access: CacheAccess;
  #closing: AbortSignal;
  /** The keys of the entries being refreshed. */
  #refreshing = new Set<string>();

  /**
   * @param network Asks the origin for a request, as the session does (`Exchange.network`).
   * @param access The session's reads, writes and background work.
   * @param closing The session's closing signal: it stops every refresh.
   */
  constructor(
    network: (flow: Flow, stale: Found, read: number) => Promise<CachedResponse>,
    access: CacheAccess,
    closing: AbortSignal,
  ) {
    this.#network = network;
    this.#access = access;
    this.#closing = closing;
  }

  /**
   * RFC 5861 §3: refreshes a stale entry in the background, once at a time per entry.
   *
   * @param flow The request the stale entry was served to.
   * @param found The entry.
   * @param read The `CacheAccess.readMark` taken before the entry was read.
   */
  refresh(flow: Flow, found: Hit, read: number): void {
    if (this.#refreshing.has(found.key)) return;
    this.#refreshing.add(found.key);
    // Bounded in time as well (REFRESH_TIMEOUT), not only by the session's closing. Deno keeps the
    // process alive while a signal that follows an `AbortSignal.timeout` has a listener, even one
    // that has fired, until the timer does (30 s after a close()): the refresh's listeners go on a
    // signal of its own, which follows that one through a listener removed as soon as it is done.
    // (Not through `onAbort`, whose bookkeeping keeps that signal referenced: with it, Deno's
    // process stayed alive after close(), tests/leaks_hunt_test.ts.)
    const closing = this.#closing;
    const limit = AbortSignal.any([closing, AbortSignal.timeout(REFRESH_TIMEOUT)]);
    const own = new AbortController();
    const stop = () => {
      limit.removeEventListener("abort", stop);
      own.abort(limit.reason);
    };
    if (limit.aborted) own.abort(limit.reason);
    else limit.addEventListener("abort", stop);
    const signal = own.signal;
    // The refresh asks for the whole response: the caller's Range would bring a 206, never stored.
    // Nor does it carry the caller's own If-None-Match / If-Modified-Since, which the cache answered:
    // the origin would answer them (a `*` matches whatever changed) with a 304 that freshens the
    // stored response as if it were current. The cache sends the stored response's validators.
    const background = without({ ...flow, ...withSignal(flow, signal), background: true }, CALLER_ONLY);
    // Read to its end, which comes once it is stored: one refresh at a time, body and write too.
    const work = this.#network(background, found, read)
      .then((response) => response.body?.pipeTo(new WritableStream()))
      .catch((error) => closing.aborted || this.#access.report(error, "revalidate", flow))
      .finally(() => {
        limit.removeEventListener("abort", stop);
        this.#refreshing.delete(found.key);
      });
    this.#access.track(work, "revalidate", flow);
  }
}
