/**
 * The stale windows of the sessions over a storage (`staleIfError`, `staleWhileRevalidate`), so
 * that what one session stores is kept for as long as any of them may serve it stale: a session
 * without such windows would else have the storage drop an entry once it is stale, which another
 * session over the storage, with them, was to serve through an outage of the origin, or while it
 * refreshes it. Sessions in other processes are not known: each keeps entries for its own windows.
 *
 * @module
 */

import type { CacheControl } from "./cache_control.ts";
import { forbidsStale } from "./policy.ts";

/** What of a session's options decides how long it may serve a stale response. */
export interface StaleWindows {
  /** Whether the response's own directives count (`cacheControl`). */
  cacheControl: boolean;
  /** Whether it is a shared cache (`shared`): `proxy-revalidate` and `s-maxage` forbid it stale use. */
  shared: boolean;
  /** `staleWhileRevalidate`, in seconds (`Infinity` for any age). */
  staleWhileRevalidate: number;
  /** `staleIfError`, in seconds (`Infinity` for any age). */
  staleIfError: number;
}

/** The distinct stale windows of the sessions over each storage, by their values. */
const OF_STORAGE = new WeakMap<object, Map<string, StaleWindows>>();

/**
 * Notes the stale windows of a session over a storage.
 *
 * @param storage The storage.
 * @param session The session's `cacheControl`, `staleWhileRevalidate` and `staleIfError`.
 */
export function addStaleWindows(storage: object, session: StaleWindows): void {
  let windows = OF_STORAGE.get(storage);
  if (windows === undefined) OF_STORAGE.set(storage, windows = new Map());
  const { cacheControl, shared, staleWhileRevalidate, staleIfError } = session;
  windows.set(`${cacheControl} ${shared} ${staleWhileRevalidate} ${staleIfError}`, {
    cacheControl,
    shared,
    staleWhileRevalidate,
    staleIfError,
  });
}

/**
 * How long past its expiry a session over a storage may serve an entry stale, the longest of them:
 * each by its own windows, with `cacheControl` the response's `stale-while-revalidate` in place of
 * its default, and the response's `stale-if-error` beside its own, or none where the response's
 * directives forbid stale use (a session without `cacheControl` reads none of them, whatever the
 * writing session does).
 *
 * @param storage The storage.
 * @param session The writing session's windows (counted whether or not it was noted).
 * @param response The response's directives, read whatever the writing session's `cacheControl`.
 * @returns Seconds.
 */
export function longestStaleWindow(storage: object, session: StaleWindows, response: CacheControl): number {
  let longest = windowOf(session, response);
  for (const other of OF_STORAGE.get(storage)?.values() ?? []) {
    longest = Math.max(longest, windowOf(other, response));
  }
  return longest;
}

/** How long past its expiry one session may serve an entry stale. */
function windowOf(session: StaleWindows, response: CacheControl): number {
  // Directives that forbid any stale use (no-cache, must-revalidate; proxy-revalidate and s-maxage
  // in a shared cache) leave the stale windows unusable: only revalidation counts.
  if (session.cacheControl && forbidsStale(response, session.shared)) return 0;
  const own = session.cacheControl ? response : {};
  return Math.max(
    own.staleWhileRevalidate ?? session.staleWhileRevalidate,
    own.staleIfError ?? 0,
    session.staleIfError,
  );
}
