/**
 * `cachedFetch` (a drop-in fetch) and `installCache` / `uninstallCache` (patching
 * `globalThis.fetch`).
 *
 * @module
 */

import type { CachedSessionOptions } from "./options.ts";
import type { CachedResponse } from "./response.ts";
import type { CacheRequestInit } from "./request.ts";
import { CachedSession } from "./session.ts";

/** A fetch function backed by a cache; its session is at `.session`. */
export interface CachedFetch {
  (input: RequestInfo | URL, init?: CacheRequestInit): Promise<CachedResponse>;
  /** The session behind it. */
  readonly session: CachedSession;
}

/**
 * Creates a drop-in replacement for `fetch` with a cache in front of it.
 *
 * @param options The session's options.
 * @returns A function with the signature of fetch.
 * @throws {TypeError | RangeError} When an option is invalid.
 *
 * @example
 * ```ts
 * import { cachedFetch } from "../mod.ts";
 * const fetch = cachedFetch({ expireAfter: 60, fetch: () => Promise.resolve(new Response("ok")) });
 * console.log(await (await fetch("http://127.0.0.1/")).text()); // ok
 * await fetch.session.close();
 * ```
 */
export function cachedFetch(options: CachedSessionOptions = {}): CachedFetch {
  const session = new CachedSession(options);
  const fetch = (input: RequestInfo | URL, init?: CacheRequestInit) => session.fetch(input, init);
  return Object.assign(fetch, { session });
}

let installed: { original: typeof fetch; cached: CachedFetch } | undefined;

/**
 * Replaces `globalThis.fetch` with a cached fetch; every later `fetch()` call in the process goes
 * through the cache. Calling it again replaces the previous installation.
 *
 * @param options The session's options; `fetch` defaults to the original global fetch.
 * @returns The session.
 * @throws {TypeError | RangeError} When an option is invalid.
 *
 * @example
 * ```ts
 * import { installCache, uninstallCache } from "../mod.ts";
 * const session = installCache({ fetch: () => Promise.resolve(new Response("ok")) });
 * await (await fetch("http://127.0.0.1/")).text();
 * uninstallCache();
 * await session.close();
 * ```
 */
export function installCache(options: CachedSessionOptions = {}): CachedSession {
  const original = installed?.original ?? globalThis.fetch;
  const cached = cachedFetch({ ...options, fetch: originOf(options.fetch, original) });
  // What the runtime hangs on its fetch (Bun's `fetch.preconnect`) stays callable.
  for (const key of Reflect.ownKeys(original)) {
    if (key === "length" || key === "name" || key === "prototype" || key in cached) continue;
    Object.defineProperty(cached, key, Object.getOwnPropertyDescriptor(original, key)!);
  }
  globalThis.fetch = cached as typeof fetch;
  installed = { original, cached };
  return cached.session;
}

/**
 * The fetch an installed session asks: the original global fetch when none is given (an own
 * `fetch: undefined` included) or when the one given is the installed cached fetch. The session's
 * own default, `globalThis.fetch`, is the cached fetch once installed: a session asking it would
 * wait on its own requests forever.
 */
function originOf(chosen: typeof fetch | undefined, original: typeof fetch): typeof fetch {
  return chosen === undefined || chosen === installed?.cached ? original : chosen;
}

/**
 * Restores the `globalThis.fetch` that {@linkcode installCache} replaced. Does nothing when no
 * cache is installed.
 */
export function uninstallCache(): void {
  if (installed === undefined) return;
  if (globalThis.fetch === installed.cached) globalThis.fetch = installed.original;
  installed = undefined;
}
