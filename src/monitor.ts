/**
 * One place where a session records what its cache did: the counters of `session.stats()`, the
 * `onEvent` hook and the `Cache-Status` header. The session calls it at each outcome; with no
 * hook and no header configured, a call only bumps counters (no allocation).
 *
 * @module
 */

import { isBackendError } from "./errors.ts";
import {
  appendCacheStatus,
  type CacheStatus,
  formatCacheStatus,
  type ForwardReason,
} from "./cache_status.ts";
import type { CacheEvent, EvictEvent } from "./events.ts";
import type { ErrorContext } from "./options.ts";
import type { CacheEntry } from "./record.ts";
import { type CacheStats, StatsCounters } from "./stats.ts";
import { callSafely } from "./callbacks.ts";

/** How a stored entry came to answer a request. */
export type Served = "hit" | "collapsed" | "stale-if-error" | "revalidated";

/** The request, as the monitor needs it. */
export interface MonitoredRequest {
  /** Method and URL, as `"GET https://…"`. */
  label: string;
  /** The cache key. */
  key: string;
  /** A background refresh: no user sees its response. */
  background?: boolean | undefined;
}

/** Records outcomes for one session. */
export class Monitor {
  #counters = new StatsCounters();
  #onEvent: ((event: CacheEvent) => void) | undefined;
  #name: string | undefined;

  /**
   * Creates a monitor.
   *
   * @param options The event hook, and the serialised cache name for `Cache-Status` (none: off).
   */
  constructor(
    options: { onEvent: ((event: CacheEvent) => void) | undefined; cacheStatus: string | undefined },
  ) {
    this.#onEvent = options.onEvent;
    this.#name = options.cacheStatus;
  }

  /**
   * The statistics so far.
   *
   * @returns A copy of the counters.
   */
  stats(): CacheStats {
    return this.#counters.snapshot();
  }

  /** Counts a request through `fetch()`. */
  request(): void {
    this.#counters.requests++;
  }

  /**
   * Records a response served from a stored entry.
   *
   * @param response The response (its headers get `Cache-Status`).
   * @param request The request.
   * @param key The storage key of the entry served (a `Vary` variant's own, not the request's).
   * @param entry The entry served.
   * @param how Why the entry could answer.
   * @param bytes Body bytes served.
   * @param now The current time (epoch ms).
   * @param forward For a forwarded request (`collapsed`, `stale-if-error`, `revalidated`): its
   *   reason, the origin's status, and for `revalidated`, whether the updated entry is stored
   *   (it is, unless the 304 said it may no longer be).
   * @returns The response.
   */
  served<R extends Response>(
    response: R,
    request: MonitoredRequest,
    key: string,
    entry: CacheEntry,
    how: Served,
    bytes: number,
    now: number,
    forward?: { fwd: ForwardReason; status?: number | undefined; stored?: boolean | undefined },
  ): R {
    const c = this.#counters;
    const stale = entry.expiresAt <= now;
    if (how === "revalidated") c.notModified++;
    if (request.background) return response;
    if (how === "hit") c.hits++;
    else if (how === "collapsed") c.coalesced++;
    // (A fresh entry too answers on error a request that would not take it: its max-age=0.)
    if ((stale || how === "stale-if-error") && how !== "revalidated" && how !== "collapsed") c.staleServed++;
    c.bytesFromCache += bytes;
    if (this.#name !== undefined) {
      const status: CacheStatus = how === "hit" ? { hit: true, ttl: ttl(entry, now) } : {
        fwd: forward?.fwd ?? "uri-miss",
        fwdStatus: forward?.status,
        stored: how === "revalidated" && forward?.stored !== false,
        collapsed: how === "collapsed",
        ttl: ttl(entry, now),
      };
      appendCacheStatus(response.headers, formatCacheStatus(this.#name, status));
    }
    if (this.#onEvent !== undefined) {
      this.#emit({
        type: "hit",
        request: request.label,
        key,
        stale: stale && how !== "revalidated",
        revalidated: how === "revalidated",
        collapsed: how === "collapsed",
        bytes,
      });
    }
    return response;
  }

  /**
   * Records a response from the origin, as it arrives: before its body is taken, so that its
   * `miss` event comes before the `store` event of its entry, however soon that is written.
   *
   * @param request The request.
   * @param fwd Why it was forwarded.
   * @param conditional It was a conditional request (a revalidation).
   * @param status The origin's status code.
   * @param stored The entry that will be stored from it, if any.
   * @param now The current time (epoch ms).
   * @param key The key that entry is stored under (a `Vary` variant's own, a HEAD's own); else the
   *   request's.
   * @returns Its `Cache-Status` member, for {@linkcode described}; `undefined` when the header is off.
   */
  forwarded(
    request: MonitoredRequest,
    fwd: ForwardReason,
    conditional: boolean,
    status: number,
    stored: Pick<CacheEntry, "expiresAt"> | undefined,
    now: number,
    key: string = request.key,
  ): string | undefined {
    const c = this.#counters;
    if (conditional) c.modified++;
    if (request.background) return undefined;
    if (!conditional) c.misses++;
    return this.#forwarded(status, request.label, key, fwd, stored, now);
  }

  /**
   * Adds a `Cache-Status` member that {@linkcode forwarded} gave to the response.
   *
   * @param response The response (its headers get `Cache-Status`).
   * @param member The member, if any.
   * @returns The response.
   */
  described<R extends Response>(response: R, member: string | undefined): R {
    try {
      if (member !== undefined) appendCacheStatus(response.headers, member);
    } catch {
      // (The fields of a response fetch made, taken over for a status outside 200–599, are
      // immutable: it goes without.)
    }
    return response;
  }

  /**
   * Records a request the cache did not handle.
   *
   * @param response The origin's response.
   * @param label Method and URL.
   * @param fwd `bypass` or `method`.
   * @returns The response.
   */
  bypassed<R extends Response>(response: R, label: string, fwd: "bypass" | "method"): R {
    this.#counters.bypassed++;
    return this.described(response, this.#forwarded(response.status, label, undefined, fwd, undefined, 0));
  }

  /**
   * Records the 504 answer to an only-if-cached request that nothing stored could satisfy.
   *
   * @param response The 504 response.
   * @param request The request: its label, and its key (`undefined` when the cache did not handle
   *   it: a method it does not store, say).
   * @returns The response.
   */
  unsatisfied<R extends Response>(response: R, request: { label: string; key: string | undefined }): R {
    this.#counters.misses++;
    if (this.#name !== undefined) {
      appendCacheStatus(response.headers, formatCacheStatus(this.#name, { detail: "only-if-cached" }));
    }
    if (this.#onEvent !== undefined) {
      this.#emit({
        type: "miss",
        request: request.label,
        key: request.key,
        reason: "only-if-cached",
        status: response.status,
      });
    }
    return response;
  }

  /**
   * Records an entry written to the backend.
   *
   * @param request The request it answered.
   * @param key Its key.
   * @param entry The entry.
   */
  stored(request: MonitoredRequest, key: string, entry: CacheEntry): void {
    this.#counters.stored++;
    if (this.#onEvent !== undefined) {
      this.#emit({
        type: "store",
        request: request.label,
        key,
        bytes: entry.body.length,
        expiresAt: entry.expiresAt,
      });
    }
  }

  /**
   * Records entries the session removed.
   *
   * @param label Method and URL of the request that caused it.
   * @param reason Why.
   * @param target The key, or the URL for invalidations.
   */
  evicted(label: string, reason: EvictEvent["reason"], target: string): void {
    if (this.#onEvent !== undefined) this.#emit({ type: "evict", request: label, reason, target });
  }

  /**
   * Records a failed cache operation (before it is given to `onError`).
   *
   * @param error The error.
   * @param context The operation and request.
   */
  failed(error: unknown, context: ErrorContext): void {
    if (isBackendError(error)) this.#counters.backendErrors++;
    if (this.#onEvent !== undefined) {
      this.#emit({ type: "error", request: context.request, operation: context.operation, error });
    }
  }

  /** Emits a `miss` event; returns the `Cache-Status` member, when the header is on. */
  #forwarded(
    status: number,
    label: string,
    key: string | undefined,
    fwd: ForwardReason,
    stored: Pick<CacheEntry, "expiresAt"> | undefined,
    now: number,
  ): string | undefined {
    if (this.#onEvent !== undefined) this.#emit({ type: "miss", request: label, key, reason: fwd, status });
    if (this.#name === undefined) return undefined;
    return formatCacheStatus(this.#name, {
      fwd,
      fwdStatus: status,
      stored: stored !== undefined,
      ttl: stored === undefined ? undefined : ttl(stored, now),
    });
  }

  #emit(event: CacheEvent): void {
    callSafely(this.#onEvent!, event);
  }
}

/** RFC 9211 §2.4: remaining freshness in whole seconds, negative once stale. */
function ttl(entry: Pick<CacheEntry, "expiresAt">, now: number): number | undefined {
  return Number.isFinite(entry.expiresAt) ? Math.floor((entry.expiresAt - now) / 1000) : undefined;
}
