/**
 * Counters of what a session's cache did, read with `session.stats()`.
 *
 * @module
 */

/**
 * What a session's cache has done since the session was created. Every request through
 * `fetch()`, and every step of a redirect that the session follows for it (a request of its own
 * to the cache), counts once in `requests` and in exactly one of `hits`, `misses`, `bypassed`,
 * `coalesced`, `revalidations.notModified` or `revalidations.modified` — unless the origin
 * fails, or stale-if-error answers (then it counts in `staleServed` alone), or its signal had
 * aborted already (then it counts in `requests` alone).
 * `staleServed` overlaps `hits`: it also counts hits that were stale.
 *
 * @example Hit ratio
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * const session = new CachedSession({
 *   fetch: () => Promise.resolve(new Response("hi", { headers: { "cache-control": "max-age=60" } })),
 * });
 * for (let i = 0; i < 4; i++) await (await session.fetch("http://127.0.0.1/a")).text();
 * const { hits, requests } = session.stats();
 * console.log(hits / requests); // 0.75
 * ```
 */
export interface CacheStats {
  /** Requests through `fetch()`, and the steps of the redirects the session follows for them. */
  requests: number;
  /** Answered from the cache without contacting the origin (RFC 9211 `hit`), fresh or stale. */
  hits: number;
  /**
   * Sent to the origin with no usable stored response: nothing stored for the URL or its Vary
   * variant, a stale response without validators, a request that refused the stored one, or one
   * with its own `If-None-Match` or `If-Modified-Since` that the stored response does not answer
   * (sent with those, it is no revalidation); and the 504 of an `only-if-cached` request that
   * found nothing usable.
   */
  misses: number;
  /**
   * Served stale: within stale-while-revalidate or a request's max-stale (also in `hits`), or
   * because the origin failed (stale-if-error).
   */
  staleServed: number;
  /**
   * Conditional requests the origin answered, foreground and background: `notModified` (304;
   * the stored body was served and freshened) and `modified` (a new full response).
   */
  revalidations: { notModified: number; modified: number };
  /** Requests that shared the origin request of an identical one already in flight. */
  coalesced: number;
  /**
   * Requests the cache did not handle: `no-store` (the fetch mode or the request's own
   * `Cache-Control`), a method it does not store, `DO_NOT_CACHE`, an `integrity`, a precondition
   * for the origin (`If-Match`, `If-Unmodified-Since`, `If-Range`), a `keyFn` that failed, a
   * request after `close()`.
   */
  bypassed: number;
  /** Responses written to the cache. */
  stored: number;
  /** Backend failures (reads, writes, deletes), each also given to `onError`. */
  backendErrors: number;
  /** Body bytes served from the cache (what the origin did not have to send). */
  bytesFromCache: number;
}

/** The mutable counters behind {@linkcode CacheStats}. */
export class StatsCounters {
  /** See {@linkcode CacheStats}. */
  requests = 0;
  /** See {@linkcode CacheStats}. */
  hits = 0;
  /** See {@linkcode CacheStats}. */
  misses = 0;
  /** See {@linkcode CacheStats}. */
  staleServed = 0;
  /** See {@linkcode CacheStats}. */
  notModified = 0;
  /** See {@linkcode CacheStats}. */
  modified = 0;
  /** See {@linkcode CacheStats}. */
  coalesced = 0;
  /** See {@linkcode CacheStats}. */
  bypassed = 0;
  /** See {@linkcode CacheStats}. */
  stored = 0;
  /** See {@linkcode CacheStats}. */
  backendErrors = 0;
  /** See {@linkcode CacheStats}. */
  bytesFromCache = 0;

  /**
   * A copy of the counters.
   *
   * @returns The statistics.
   */
  snapshot(): CacheStats {
    return {
      requests: this.requests,
      hits: this.hits,
      misses: this.misses,
      staleServed: this.staleServed,
      revalidations: { notModified: this.notModified, modified: this.modified },
      coalesced: this.coalesced,
      bypassed: this.bypassed,
      stored: this.stored,
      backendErrors: this.backendErrors,
      bytesFromCache: this.bytesFromCache,
    };
  }
}
