/**
 * The events a session reports to its `onEvent` hook. Without a hook nothing is built: the
 * session checks for the hook before it creates an event.
 *
 * @module
 */

import type { ForwardReason } from "./cache_status.ts";
import type { ErrorContext } from "./options.ts";

/**
 * Something the cache did. The handler is called synchronously; it must be quick, and what it
 * throws is ignored.
 *
 * @example Log every miss
 * ```ts
 * import { CachedSession } from "../mod.ts";
 * const session = new CachedSession({
 *   fetch: () => Promise.resolve(new Response("hi")),
 *   onEvent(event) {
 *     if (event.type === "miss") console.log(`miss (${event.reason}): ${event.request}`);
 *   },
 * });
 * await (await session.fetch("http://127.0.0.1/a")).text(); // miss (uri-miss): GET http://127.0.0.1/a
 * ```
 */
export type CacheEvent = HitEvent | MissEvent | StoreEvent | EvictEvent | ErrorEvent;

/** The kinds of {@linkcode CacheEvent}. */
export type CacheEventType = CacheEvent["type"];

/** A response was served from the cache (`response.fromCache` is true). */
export interface HitEvent {
  /** The kind of event. */
  type: "hit";
  /** Method and URL, as `"GET https://…"` (ignored parameters removed). */
  request: string;
  /** The storage key of the entry served: a `Vary` variant's own, as its `store` event named it. */
  key: string;
  /** The entry was stale when served (stale-while-revalidate, max-stale, stale-if-error). */
  stale: boolean;
  /** The origin confirmed the entry with a 304 first. */
  revalidated: boolean;
  /** The entry came from an identical request in flight at the same time. */
  collapsed: boolean;
  /** Body bytes served. */
  bytes: number;
}

/** A request went to the origin, and its response is being returned. */
export interface MissEvent {
  /** The kind of event. */
  type: "miss";
  /** Method and URL, as `"GET https://…"`. */
  request: string;
  /**
   * The key its response is stored under (a `Vary` variant's own, a `HEAD` response's own), as its
   * `store` event and the response's `cacheKey` name it; the request's cache key when nothing is
   * stored from it; `undefined` when the cache was bypassed.
   */
  key: string | undefined;
  /** Why the request was forwarded (RFC 9211 `fwd`), or `only-if-cached` for the 504 answer. */
  reason: ForwardReason | "only-if-cached";
  /** The status code of the response returned. */
  status: number;
}

/** An entry was written to the backend. */
export interface StoreEvent {
  /** The kind of event. */
  type: "store";
  /** Method and URL, as `"GET https://…"`. */
  request: string;
  /** The entry's cache key. */
  key: string;
  /** Body bytes stored. */
  bytes: number;
  /** When the entry stops being fresh (epoch ms); `Infinity` for never. */
  expiresAt: number;
}

/** The session removed stored entries. */
export interface EvictEvent {
  /** The kind of event. */
  type: "evict";
  /** Method and URL of the request that caused it, as `"POST https://…"`. */
  request: string;
  /**
   * Why: `invalidated` (an unsafe method succeeded on the URL, RFC 9111 §4.4), `mismatch` (a
   * HEAD response showed the stored GET response is outdated, §4.3.5), `unstorable` (a newer
   * response to the request may not be stored: a 304 or HEAD response says `no-store`, say (§3),
   * or its body is larger than the backend keeps; the older one must not outlive it), `corrupt` (a
   * record could not be decoded, or the storage found it damaged: a `CorruptRecordError`).
   */
  reason: "invalidated" | "mismatch" | "unstorable" | "corrupt";
  /**
   * The key removed, or for `invalidated` a URL the request invalidated, as its entries are stored
   * (without a fragment or ignored parameters): one event for each, when the request removed at
   * least one entry (not necessarily under this URL).
   */
  target: string;
}

/** A cache operation failed; the request went on without the cache. The same error reaches `onError`. */
export interface ErrorEvent {
  /** The kind of event. */
  type: "error";
  /** Method and URL, as `"GET https://…"`. */
  request: string;
  /** The failed operation. */
  operation: ErrorContext["operation"];
  /** The error. */
  error: unknown;
}
