/**
 * Options of {@linkcode CachedSession}, their defaults, and their validation at construction.
 *
 * @module
 */

import type { CacheBackend } from "../backends/base.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { type KeyRequest, matchedHeaderNames } from "./cache_keys.ts";
import { DEFAULT_CACHE_STATUS_NAME, serializeCacheName } from "./cache_status.ts";
import type { CacheEvent } from "./events.ts";
import { normalizeMethod } from "./request.ts";
import {
  checkExpireAfter,
  compileUrlPatterns,
  describe,
  type ExpireAfter,
  isPlainObject,
  type UrlExpiration,
  type UrlsExpireAfter,
} from "./expiration.ts";

/** What happened when the cache reported an error to `onError`. */
export interface ErrorContext {
  /**
   * The cache operation that failed: `read` also for a request whose key could not be worked out
   * (a `keyFn` or a request body that failed), `write` also for a `filter` that threw; for a
   * `waitUntil` that threw, the operation of the work it was handed.
   */
  operation: "read" | "write" | "delete" | "revalidate";
  /** The request's method and URL, as `"GET https://…"`. */
  request: string;
}

/** Options of a {@linkcode CachedSession} (all optional). */
export interface CachedSessionOptions {
  /**
   * Where responses are stored.
   * @default {new MemoryBackend()}
   */
  backend?: CacheBackend;
  /**
   * How long responses stay fresh when nothing more specific applies: seconds, a `Date`,
   * `NEVER_EXPIRE`, `EXPIRE_IMMEDIATELY` or `DO_NOT_CACHE` (which bypasses the cache, before any
   * response header). With `cacheControl` on and no value here, a response without freshness
   * information is stored only when it can be revalidated, or served stale: on error
   * (`staleIfError`), or within its own `stale-while-revalidate` or `stale-if-error`.
   * @default {undefined} (`NEVER_EXPIRE` when `cacheControl` is off)
   */
  expireAfter?: ExpireAfter;
  /**
   * Expiration per URL glob pattern, in a plain object (a `Map` is refused): patterns are matched
   * against the URL without its scheme; the first match wins.
   */
  urlsExpireAfter?: UrlsExpireAfter;
  /**
   * Follow the HTTP caching rules of RFC 9111 and RFC 5861: `Cache-Control`, `Expires`, heuristic
   * freshness. Without them, only the expiration options decide freshness, and only the session's
   * `staleIfError` and `staleWhileRevalidate` how long past it; `Vary`, revalidation with
   * validators and a true `Age` stay either way.
   * @default {true}
   */
  cacheControl?: boolean;
  /**
   * Apply the rules of a shared cache (`s-maxage`, no `private` responses, `Authorization` rules)
   * instead of those of a private one. A shared and a private session on one backend never share
   * an entry: their keys differ.
   * @default {false}
   */
  shared?: boolean;
  /**
   * Status codes that may be stored. When not set and `cacheControl` is on, the origin decides as
   * RFC 9111 says: a response of any final status is stored when its own explicit or heuristic
   * freshness (or a validator) makes it cacheable, and `expireAfter` / `urlsExpireAfter` give
   * freshness to `200` responses only. `206`, `304` and `416` are never stored, and refused here.
   * @default {undefined} (`[200]` when `cacheControl` is off)
   */
  allowedCodes?: readonly number[];
  /**
   * Request methods whose responses may be stored. A `HEAD` is answered from the stored `GET` of
   * its URL (when `GET` or `HEAD` is listed), else, when `HEAD` is listed, from a `HEAD` response
   * stored on its own, which never answers a `GET`. Names are matched as fetch sends them:
   * `DELETE`, `GET`, `HEAD`, `OPTIONS`, `POST` and `PUT` in any case, any other method exactly as
   * written (`"purge"` allows `purge`, not `PURGE`).
   * @default {["GET", "HEAD"]}
   */
  allowedMethods?: readonly string[];
  /**
   * Decides per response whether it may be stored; it sees status, headers, `url` and
   * `redirected` (no body). An error
   * thrown here, or a promise returned (it is called synchronously), reaches `onError` and the
   * response goes to the caller unstored.
   */
  filter?: (response: Response) => boolean;
  /** Query parameters, JSON or form fields and headers left out of keys and removed from what is stored. */
  ignoredParameters?: readonly string[];
  /** Request headers whose values are part of the cache key. */
  matchHeaders?: readonly string[];
  /**
   * Replaces the cache key function; `defaultKey()` computes the built-in one. Add to the end of
   * the default key, so that deleting by URL still finds the entry. A key is a non-empty string
   * of printable ASCII not starting with `~` nor ending with `.` and 22 base64url characters (the
   * forms of redirect aliases and `Vary` variants); anything else, or an error thrown here, reaches
   * `onError` and the request goes to the origin uncached.
   */
  keyFn?: (request: KeyRequest, defaultKey: () => Promise<string>) => string | Promise<string>;
  /**
   * Serve a stale response when the origin fails (network error, 500, 502, 503, 504): `true` for
   * any age, or a number of seconds past expiry. With `cacheControl`, the response's own
   * `stale-if-error` also applies, and `must-revalidate` or `no-cache` forbid it.
   * @default {false}
   */
  staleIfError?: boolean | number;
  /**
   * Seconds past expiry during which a stale response is served at once and refreshed in the
   * background. With `cacheControl`, the response's own `stale-while-revalidate` takes precedence,
   * and `must-revalidate` or `no-cache` forbid it; without, this window alone applies. `true`
   * is any age.
   * @default {0}
   */
  staleWhileRevalidate?: boolean | number;
  /**
   * Share one origin request between identical concurrent requests (same cache key, a method
   * that may be stored). Each caller still gets a response of its own; a network error reaches
   * every one of them; a caller that aborts leaves the others waiting. A response that is not
   * stored is not shared: then each waiting request asks the origin itself. A `HEAD`, a request
   * with a `Range` and one with its own `If-None-Match` or `If-Modified-Since` ask on their own.
   * @default {true}
   */
  coalesceRequests?: boolean;
  /**
   * Store `Set-Cookie` (and the obsolete `Set-Cookie2`) response headers (they are dropped by
   * default, so no session cookie is ever replayed from the cache). Without it, a stored `Set-Cookie` is not served either, even one
   * that another session, with it, stored on the same backend.
   * @default {false}
   */
  storeSetCookie?: boolean;
  /**
   * The fetch that is wrapped.
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /** Receives every cache failure; the user's request goes on without the cache. Default: `console.warn`. */
  onError?: (error: unknown, context: ErrorContext) => void;
  /**
   * Keeps background work (refreshes, writes, the rest of a body its caller did not read) alive
   * on serverless hosts: it is handed each piece of that work as a promise that never rejects.
   * It is called as a plain function, with no `this`: pass `(work) => ctx.waitUntil(work)`, not
   * `ctx.waitUntil`, which throws without its `ctx` on Cloudflare Workers. What it throws (or
   * the promise it returns rejects with) goes to `onError`, with the operation of the work it was
   * handed; the request goes on, and the work still runs, kept alive by nothing.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * Adds a `Cache-Status` header (RFC 9211) to every response, saying what the cache did:
   * `true` names the cache `http-cache`; a string gives another name.
   * @default {false}
   */
  cacheStatus?: boolean | string;
  /** Receives hit, miss, store, evict and error events, synchronously; nothing is built without it. */
  onEvent?: (event: CacheEvent) => void;
  /**
   * The clock, in epoch milliseconds: a finite number (asked once when the session is created).
   * @default {Date.now}
   */
  now?: () => number;
}

/** Options with their defaults applied, checked. */
export interface ResolvedOptions {
  backend: CacheBackend;
  expireAfter: ExpireAfter | undefined;
  urlExpiration: UrlExpiration;
  cacheControl: boolean;
  shared: boolean;
  /** `undefined`: not configured (see {@linkcode CachedSessionOptions.allowedCodes}). */
  allowedCodes: ReadonlySet<number> | undefined;
  allowedMethods: ReadonlySet<string>;
  filter: ((response: Response) => boolean) | undefined;
  ignoredParameters: ReadonlySet<string>;
  matchHeaders: readonly string[];
  keyFn: CachedSessionOptions["keyFn"];
  staleIfError: number;
  staleWhileRevalidate: number;
  coalesceRequests: boolean;
  storeSetCookie: boolean;
  fetch: typeof fetch;
  onError: (error: unknown, context: ErrorContext) => void;
  waitUntil: ((promise: Promise<unknown>) => void) | undefined;
  /** The serialised cache name for `Cache-Status`, or `undefined` when the header is off. */
  cacheStatus: string | undefined;
  onEvent: ((event: CacheEvent) => void) | undefined;
  now: () => number;
}

const KNOWN = new Set([
  "backend",
  "expireAfter",
  "urlsExpireAfter",
  "cacheControl",
  "shared",
  "allowedCodes",
  "allowedMethods",
  "filter",
  "ignoredParameters",
  "matchHeaders",
  "keyFn",
  "staleIfError",
  "staleWhileRevalidate",
  "coalesceRequests",
  "storeSetCookie",
  "fetch",
  "onError",
  "waitUntil",
  "cacheStatus",
  "onEvent",
  "now",
]);

/**
 * Applies defaults and checks every option.
 *
 * @param options The user's options.
 * @returns The resolved options.
 * @throws {TypeError} When an option has the wrong type or is unknown.
 * @throws {RangeError} When a number is out of range.
 */
export function resolveOptions(options: CachedSessionOptions): ResolvedOptions {
  // (A Map, an array or another iterable holds its entries where no option is read: all would
  // be left at their defaults without a word.)
  if (typeof options !== "object" || options === null || Symbol.iterator in options) {
    throw new TypeError(`${PREFIX}options must be an object: received ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) {
      throw new TypeError(
        `${PREFIX}unknown option ${JSON.stringify(name)}: allowed are ${[...KNOWN].join(", ")}`,
      );
    }
  }
  const o = options;
  return {
    backend: backendOf(o.backend),
    expireAfter: o.expireAfter === undefined
      ? undefined
      : checkExpireAfter(o.expireAfter, `${PREFIX}expireAfter`),
    urlExpiration: compileUrlPatterns(
      o.urlsExpireAfter === undefined ? {} : o.urlsExpireAfter,
      `${PREFIX}urlsExpireAfter`,
    ),
    cacheControl: flag(o.cacheControl, "cacheControl", true),
    shared: flag(o.shared, "shared", false),
    allowedCodes: o.allowedCodes === undefined ? undefined : new Set(
      list(
        o.allowedCodes,
        "allowedCodes",
        [],
        "number",
        isStorableStatus,
        "status codes from 200 to 599 but 206, 304 and 416, which are never stored",
      ),
    ),
    allowedMethods: new Set(
      // As fetch sends them: the six standard methods in upper case, any other as written.
      list(o.allowedMethods, "allowedMethods", ["GET", "HEAD"], "string", isToken, "method names").map(
        normalizeMethod,
      ),
    ),
    filter: fn(o.filter, "filter"),
    ignoredParameters: new Set(
      list(o.ignoredParameters, "ignoredParameters", [], "string", isNonEmpty, "strings"),
    ),
    matchHeaders: matchedHeaderNames(
      list(o.matchHeaders, "matchHeaders", [], "string", isToken, "header names"),
    ),
    keyFn: fn(o.keyFn, "keyFn"),
    staleIfError: seconds(o.staleIfError, "staleIfError"),
    staleWhileRevalidate: seconds(o.staleWhileRevalidate, "staleWhileRevalidate"),
    coalesceRequests: flag(o.coalesceRequests, "coalesceRequests", true),
    storeSetCookie: flag(o.storeSetCookie, "storeSetCookie", false),
    fetch: fn(o.fetch, "fetch") ?? ((input, init) => globalThis.fetch(input, init)),
    onError: fn(o.onError, "onError") ?? warn,
    waitUntil: fn(o.waitUntil, "waitUntil"),
    cacheStatus: cacheStatusName(o.cacheStatus),
    onEvent: fn(o.onEvent, "onEvent"),
    now: clock(o.now),
  };
}

/**
 * The `now` option, asked once: a clock that gives no time (`NaN` from an unset fake clock) would
 * make every record read as corrupt, and be deleted as such.
 */
function clock(value: (() => number) | undefined): () => number {
  const now = fn(value, "now");
  if (now === undefined) return Date.now;
  const time: unknown = now();
  if (typeof time !== "number" || !Number.isFinite(time)) {
    throw new TypeError(
      `${PREFIX}now must return the time in epoch milliseconds: received ${describe(time)}`,
    );
  }
  return now;
}

const PREFIX = "Cannot create CachedSession: ";

/**
 * The options as {@linkcode resolveOptions} reads them, in a plain object of their own: its own
 * members, and each option it inherits (from a class's getters, or a prototype made with
 * `Object.create(defaults)`), which a spread would drop.
 *
 * @param options The user's options (an object).
 * @returns A copy to add to.
 */
export function copyOptions(options: CachedSessionOptions): CachedSessionOptions {
  const copy: Record<string, unknown> = { ...options };
  if (isPlainObject(options)) return copy;
  for (const name of KNOWN) {
    if (Object.hasOwn(copy, name)) continue;
    const value = (options as Record<string, unknown>)[name];
    if (value !== undefined) copy[name] = value;
  }
  return copy;
}

/** What the session calls on its backend, besides its `storage`. */
const BACKEND_METHODS = ["read", "write", "writeAlias", "delete", "close"] as const;

function backendOf(value: unknown): CacheBackend {
  if (value === undefined) return new MemoryBackend();
  // By shape rather than `instanceof`: a backend built by another copy of this package (one from
  // npm, one from JSR) is as good a CacheBackend.
  const candidate = value as Record<string, unknown> | null;
  const usable = typeof candidate === "object" && candidate !== null &&
    typeof candidate.storage === "object" && candidate.storage !== null &&
    BACKEND_METHODS.every((method) => typeof candidate[method] === "function");
  if (!usable) {
    throw new TypeError(
      `${PREFIX}backend must be a CacheBackend such as new MemoryBackend(): received ${describe(value)}`,
    );
  }
  // (A custom storage's bound: NaN, compared with nothing, would collect bodies of any size.)
  const { maxEntrySize } = candidate.storage as { maxEntrySize?: unknown };
  if (maxEntrySize !== undefined && !(typeof maxEntrySize === "number" && maxEntrySize >= 0)) {
    throw new TypeError(
      `${PREFIX}backend.storage.maxEntrySize must be a number of bytes (0 or more, Infinity) or undefined: ` +
        `received ${describe(maxEntrySize)}`,
    );
  }
  return value as CacheBackend;
}

function warn(error: unknown, context: ErrorContext): void {
  console.warn(`http-cache: ${context.operation} failed for ${context.request}:`, error);
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`${PREFIX}${name} must be true or false: received ${describe(value)}`);
  }
  return value;
}

function fn<T>(value: T | undefined, name: string): T | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${PREFIX}${name} must be a function: received ${describe(value)}`);
  }
  return value;
}

function cacheStatusName(value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_CACHE_STATUS_NAME;
  try {
    return serializeCacheName(value as string);
  } catch {
    throw new TypeError(
      `${PREFIX}cacheStatus must be true, false or a cache name of printable ASCII: received ${
        describe(value)
      }`,
    );
  }
}

function seconds(value: unknown, name: string): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return Infinity;
  if (typeof value !== "number") {
    throw new TypeError(
      `${PREFIX}${name} must be a boolean or a number of seconds >= 0: received ${describe(value)}`,
    );
  }
  if (!(value >= 0)) {
    throw new RangeError(`${PREFIX}${name} must be a number of seconds >= 0: received ${value}`);
  }
  return value;
}

function list<T extends number | string>(
  value: readonly unknown[] | undefined,
  name: string,
  fallback: T[],
  type: "number" | "string",
  valid: (item: T) => boolean,
  allowed: string,
): T[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value)) {
    throw new TypeError(`${PREFIX}${name} must be an array of ${allowed}: received ${describe(value)}`);
  }
  // findIndex, not find: it also stops at an `undefined` item or a hole.
  const at = value.findIndex((item) => typeof item !== type || !valid(item as T));
  if (at !== -1) {
    const bad: unknown = value[at];
    // Only a number of a list of numbers is out of range; any other wrong item has the wrong type.
    const error = type === "number" && typeof bad === "number" ? RangeError : TypeError;
    throw new error(`${PREFIX}${name} must be an array of ${allowed}: received ${describe(bad)}`);
  }
  return [...value] as T[];
}

function isStorableStatus(value: number): boolean {
  return Number.isInteger(value) && value >= 200 && value <= 599 && value !== 206 && value !== 304 &&
    value !== 416;
}

function isNonEmpty(value: string): boolean {
  return value !== "";
}

function isToken(value: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value);
}
