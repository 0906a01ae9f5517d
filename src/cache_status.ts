/**
 * The `Cache-Status` response header field of RFC 9211: one list member that says what this
 * cache did with a request, such as `http-cache; hit; ttl=42` or
 * `http-cache; fwd=stale; fwd-status=304; stored; ttl=60`.
 *
 * @module
 */

/** Name the cache gives itself in `Cache-Status` when `cacheStatus: true`. */
export const DEFAULT_CACHE_STATUS_NAME = "http-cache";

/**
 * Why a request went to the origin (RFC 9211 §2.2 `fwd`):
 *
 * - `bypass`: the cache was told not to handle it (`cache: "no-store"`, or a precondition for
 *   the origin: `If-Match`, `If-Unmodified-Since`, `If-Range`).
 * - `method`: its method is not one the cache stores.
 * - `uri-miss`: nothing is stored for the URL.
 * - `vary-miss`: something is stored for the URL, but no variant matches the request's headers.
 * - `request`: a fresh response was stored, but the request did not allow its use
 *   (`cache: "reload"` or `"no-cache"`, `Cache-Control: no-cache` or `max-age=0`), or its own
 *   `If-None-Match` or `If-Modified-Since` names another copy (the origin answers for that one).
 * - `stale`: the stored response was stale, so it was revalidated or replaced (or, for a request
 *   whose own validators name another copy, the origin answered for that one).
 */
export type ForwardReason = "bypass" | "method" | "uri-miss" | "vary-miss" | "request" | "stale";

/** What the cache did, in the terms of RFC 9211. */
export interface CacheStatus {
  /** §2.1: answered from the cache without contacting the origin. */
  hit?: boolean;
  /** §2.2: why the request went to the origin. */
  fwd?: ForwardReason | undefined;
  /** §2.3: the status code the origin answered with. */
  fwdStatus?: number | undefined;
  /** §2.4: remaining freshness of the response, in seconds; negative when stale. */
  ttl?: number | undefined;
  /** §2.5: the origin's response was stored. */
  stored?: boolean;
  /** §2.6: the request waited for an identical one instead of being forwarded itself. */
  collapsed?: boolean;
  /** §2.8: anything else, as a token. */
  detail?: string;
}

/**
 * Serialises one `Cache-Status` list member (RFC 8941 structured field syntax).
 *
 * @param name The cache's name, already serialised (see {@linkcode serializeCacheName}).
 * @param status What the cache did.
 * @returns The member, e.g. `http-cache; hit; ttl=42`.
 *
 * @example A revalidated response
 * ```ts
 * import { formatCacheStatus } from "./cache_status.ts";
 * console.log(formatCacheStatus("http-cache", { fwd: "stale", fwdStatus: 304, stored: true, ttl: 60 }));
 * // http-cache; fwd=stale; fwd-status=304; stored; ttl=60
 * ```
 */
export function formatCacheStatus(name: string, status: CacheStatus): string {
  let out = name;
  if (status.hit) out += "; hit";
  if (status.fwd !== undefined) out += `; fwd=${status.fwd}`;
  if (status.fwdStatus !== undefined) out += `; fwd-status=${status.fwdStatus}`;
  if (status.stored) out += "; stored";
  if (status.collapsed) out += "; collapsed";
  // §2.4 "an integer number of seconds"; an sf-integer has at most 15 digits.
  if (status.ttl !== undefined && Number.isFinite(status.ttl)) {
    out += `; ttl=${Math.max(-999_999_999_999_999, Math.min(999_999_999_999_999, Math.floor(status.ttl)))}`;
  }
  if (status.detail !== undefined) out += `; detail=${status.detail}`;
  return out;
}

/**
 * Appends this cache's member to a response's `Cache-Status`. RFC 9211 §2: caches append, so
 * the members of caches nearer the origin (already in the field) come first.
 *
 * @param headers The response headers (mutable).
 * @param member The member from {@linkcode formatCacheStatus}.
 */
export function appendCacheStatus(headers: Headers, member: string): void {
  const existing = headers.get("cache-status");
  headers.set("cache-status", existing === null || existing === "" ? member : `${existing}, ${member}`);
}

/**
 * Serialises a cache name as an sf-token when it is one, or else as an sf-string.
 *
 * @param name The name: printable ASCII.
 * @returns The serialised name.
 * @throws {TypeError} When the name is empty or not printable ASCII.
 *
 * @example
 * ```ts
 * import { serializeCacheName } from "./cache_status.ts";
 * console.log(serializeCacheName("my-app")); // my-app
 * console.log(serializeCacheName("my app")); // "my app"
 * ```
 */
export function serializeCacheName(name: string): string {
  if (typeof name !== "string" || !/^[\x20-\x7e]+$/.test(name)) {
    throw new TypeError(
      `a cache name must be a non-empty string of printable ASCII: received ${String(name)}`,
    );
  }
  if (/^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(name)) return name;
  return `"${name.replace(/[\\"]/g, "\\$&")}"`;
}

/**
 * Why a request that the cache handled went to the origin.
 *
 * @param mode The request's cache mode.
 * @param found What the lookup found: nothing, an entry for the URL without a matching variant
 *   (`entry` undefined), or a usable entry.
 * @param now The current time (epoch ms).
 * @returns The `fwd` reason.
 */
export function forwardReason(
  mode: string,
  found: { entry?: { expiresAt: number } | undefined } | undefined,
  now: number,
): ForwardReason {
  if (found === undefined) return "uri-miss";
  // A reload reads its primary slot alone, to place its response: something is stored there.
  if (mode === "reload") return "request";
  if (found.entry === undefined) return "vary-miss";
  return found.entry.expiresAt > now ? "request" : "stale";
}
