/**
 * `cachedFetch` (a drop-in fetch) and `installCache` / `uninstallCache` (patching
 * `globalThis.fetch`).
 *
 * @module
 */

import { type CachedSessionOptions, copyOptions } from "./options.ts";
import type { CachedResponse } from "./response.ts";
import type { CacheRequestInit } from "./request.ts";
import { askedByOrigin, followOrigin } from "./origin_call.ts";
import { CachedSession } from "./session.ts";

/** A fetch function backed by a cache; its session is at `.session`. */
export interface CachedFetch {
  (input: RequestInfo | URL, init?: CacheRequestInit): Promise<CachedResponse>;
  /** The session behind it. */
  readonly session: CachedSession;
  /**
   * Closes the session, as `session.close()` does (`await using fetch = cachedFetch()`); only
   * where the runtime defines `Symbol.asyncDispose`.
   */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Creates a drop-in replacement for `fetch` with a cache in front of it.
 *
 * @param options The session's options.
 * @returns A function with the signature of fetch, and the session at `.session`; `await using`
 *   closes the session.
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
  const initial = globalThis.fetch;
  const session = new CachedSession(options);
  followOrigin(session);
  // Called back by its own origin request (`globalThis.fetch = cachedFetch()`, whose session asks
  // `globalThis.fetch`): the fetch that was global when it was made, not the session, which waits.
  const fetch = (input: RequestInfo | URL, init?: CacheRequestInit): Promise<CachedResponse> =>
    askedByOrigin(session) ? initial(input, init) as Promise<never> : session.fetch(input, init);
  // (Set as the global fetch, it keeps what the runtime hangs there.)
  return withMembersOf(disposing(Object.assign(fetch, { session })), initial);
}

/** Gives a fetch `[Symbol.asyncDispose]`, closing its session, where the runtime has the symbol. */
function disposing<T extends { session: CachedSession }>(fetch: T): T & CachedFetch {
  if (typeof Symbol.asyncDispose === "symbol") {
    Object.defineProperty(fetch, Symbol.asyncDispose, {
      value: () => fetch.session.close(),
      writable: true,
      configurable: true,
    });
  }
  return fetch as T & CachedFetch;
}

/**
 * Gives a fetch what the runtime hangs on its own (Bun's `fetch.preconnect`), so that code that
 * calls it on the global fetch still can, and its `name` and `length`, which code that prints or
 * checks the global fetch reads.
 */
function withMembersOf<T extends object>(to: T, from: typeof fetch | undefined): T {
  // (No global fetch at all, a runtime or a test without one: nothing to keep.)
  if (typeof from !== "function") return to;
  for (const key of Reflect.ownKeys(from)) {
    if (key === "prototype" || (key in to && key !== "length" && key !== "name")) continue;
    Object.defineProperty(to, key, Object.getOwnPropertyDescriptor(from, key)!);
  }
  return to;
}

/**
 * An installation: `entry` is what `globalThis.fetch` was set to. An entry that is no longer the
 * one in place (after `uninstallCache`, or another `installCache`) sends every call to the fetch it
 * replaced: a wrapper installed over it (an APM's, a logger's) that later puts it back puts back
 * no cache.
 */
interface Installation {
  readonly original: typeof fetch;
  readonly entry: CachedFetch;
}

/**
 * Where the installation in place is kept: on the global object, as the fetch it patches is, under
 * a registered symbol, so that every copy of this module (one a hot reload evaluated again, one
 * from npm beside one from JSR) replaces and uninstalls the same installation rather than stacking
 * a cache over another's.
 */
const INSTALLED: unique symbol = Symbol.for("@x/http-cache installed");

/** The installation in place, if any. */
function installation(): Installation | undefined {
  return (globalThis as { [INSTALLED]?: Installation })[INSTALLED];
}

function install(value: Installation | undefined): void {
  if (value === undefined) delete (globalThis as { [INSTALLED]?: Installation })[INSTALLED];
  else Object.defineProperty(globalThis, INSTALLED, { value, writable: true, configurable: true });
}

/**
 * Replaces `globalThis.fetch` with a cached fetch; every later `fetch()` call in the process goes
 * through the cache. Calling it again replaces the previous installation (a fetch set over it
 * since, such as an instrumentation's wrapper, is kept and wrapped). Once uninstalled (or
 * replaced), the function installed passes every call on to the fetch it replaced, so that a
 * wrapper that captured it and later restores it does not bring the cache back.
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
  // Installing over the installation in place replaces it; over anything else (a wrapper set
  // over it since, a mock) wraps that, which stays in place until `uninstallCache`.
  const installed = installation();
  const original = installed !== undefined && globalThis.fetch === installed.entry
    ? installed.original
    : globalThis.fetch;
  // Options that are not an object (a fetch function passed by mistake, `null`, a Map) are refused
  // as the session refuses them, not spread into no options at all; options inherited (a class's
  // getters) are read as the session reads them.
  const given = typeof options === "object" && options !== null && !(Symbol.iterator in options)
    ? { ...copyOptions(options), fetch: originOf(options.fetch, original) }
    : options;
  const cached = cachedFetch(given);
  const entry: CachedFetch = withMembersOf(
    disposing(Object.assign(
      (input: RequestInfo | URL, init?: CacheRequestInit) =>
        installation()?.entry === entry ? cached(input, init) : original(input, init) as Promise<never>,
      { session: cached.session },
    )),
    original,
  );
  globalThis.fetch = entry as typeof fetch;
  install({ original, entry });
  return cached.session;
}

/**
 * The fetch an installed session asks: the original global fetch when none is given (an own
 * `fetch: undefined` included) or when the one given is the installed cached fetch. The session's
 * own default, `globalThis.fetch`, is the cached fetch once installed: a session asking it would
 * wait on its own requests forever.
 */
function originOf(chosen: typeof fetch | undefined, original: typeof fetch): typeof fetch {
  return chosen === undefined || chosen === installation()?.entry ? original : chosen;
}

/**
 * Restores the `globalThis.fetch` that {@linkcode installCache} replaced (when something else was
 * set over it since, that stays, and the cache in it now passes calls through). Does nothing when
 * no cache is installed.
 */
export function uninstallCache(): void {
  const installed = installation();
  if (installed === undefined) return;
  if (globalThis.fetch === installed.entry) globalThis.fetch = installed.original;
  install(undefined);
}
