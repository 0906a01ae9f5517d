/**
 * Reading what a `fetch(input, init)` call asks for, without building a `Request` unless the
 * network needs one: hits stay cheap.
 *
 * @module
 */

import { checkExpireAfter, describe, type ExpireAfter } from "./expiration.ts";

/** The standard `RequestInit.cache` modes (Fetch standard §5.3). */
export type CacheMode = "default" | "no-store" | "reload" | "no-cache" | "force-cache" | "only-if-cached";

/** `RequestInit` with the cache's one extra field. */
export interface CacheRequestInit extends RequestInit {
  /** Overrides the expiration of this one response (seconds, a Date or one of the constants). */
  expireAfter?: ExpireAfter;
}

/** A fetch call as the cache sees it. */
export interface ParsedRequest {
  input: RequestInfo | URL;
  /** The init to forward, without `cache` and `expireAfter`. */
  init: RequestInit | undefined;
  url: URL;
  method: string;
  headers: Headers;
  mode: CacheMode;
  expireAfter: ExpireAfter | undefined;
}

const MODES = new Set<string>(["default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached"]);
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
const CONDITIONALS = ["if-modified-since", "if-none-match", "if-unmodified-since", "if-match", "if-range"];
const EMPTY_HEADERS = new Headers();

/**
 * Parses the arguments of a fetch call.
 *
 * @param input What fetch takes first.
 * @param init What fetch takes second, plus `expireAfter`.
 * @returns The parsed call, or `undefined` when the URL is invalid (plain fetch then rejects).
 * @throws {TypeError} When `init.cache` is not a cache mode.
 * @throws {TypeError | RangeError} When `init.expireAfter` is invalid.
 */
export function parseRequest(
  input: RequestInfo | URL,
  init: CacheRequestInit | undefined,
): ParsedRequest | undefined {
  let forwarded: RequestInit | undefined = init;
  let mode: unknown = "default";
  let expireAfter: ExpireAfter | undefined;
  const isRequest = input instanceof Request;
  if (isRequest && input.cache) mode = input.cache;
  if (init !== undefined && ("cache" in init || "expireAfter" in init)) {
    const { cache, expireAfter: value, ...rest } = init;
    forwarded = rest;
    if (cache !== undefined) mode = cache;
    if (value !== undefined) expireAfter = checkExpireAfter(value, "expireAfter");
  }
  if (typeof mode !== "string" || !MODES.has(mode)) {
    throw new TypeError(
      `RequestInit.cache must be one of ${[...MODES].join(", ")}: received ${describe(mode)}`,
    );
  }
  let url: URL;
  try {
    url = new URL(isRequest ? input.url : input instanceof URL ? input.href : String(input));
  } catch {
    return undefined;
  }
  const method = normalizeMethod(forwarded?.method ?? (isRequest ? input.method : "GET"));
  const headers = forwarded?.headers !== undefined
    ? new Headers(forwarded.headers)
    : isRequest
    ? input.headers
    : EMPTY_HEADERS;
  let cacheMode = mode as CacheMode;
  // Fetch §4.5 (HTTP-network-or-cache fetch): a request that carries its own conditional header
  // fields bypasses the cache as if its mode were "no-store".
  if (cacheMode === "default" && CONDITIONALS.some((name) => headers.has(name))) cacheMode = "no-store";
  return { input, init: forwarded, url, method, headers, mode: cacheMode, expireAfter };
}

/**
 * Normalises a method the way fetch does: the six standard methods are upper-cased, others kept.
 *
 * @param method The method.
 * @returns The normalised method.
 */
export function normalizeMethod(method: string): string {
  const upper = method.toUpperCase();
  return NORMALIZED_METHODS.has(upper) ? upper : method;
}

/**
 * The arguments for the network fetch: the caller's request with `extra` header fields set, and
 * the header fields Fetch §4.5 adds for the cache mode (`Pragma`/`Cache-Control: no-cache` for
 * `no-store` and `reload`, `Cache-Control: max-age=0` for `no-cache`).
 *
 * @param request The parsed request.
 * @param extra Header fields to set, such as validators.
 * @param options `signal: false` drops the caller's abort signal (background refreshes).
 * @returns `[input, init]` for fetch.
 */
export function networkArguments(
  request: ParsedRequest,
  extra: readonly [string, string][] = [],
  options: { signal?: boolean } = {},
): [RequestInfo | URL, RequestInit | undefined] {
  const added: [string, string][] = [...extra];
  const has = (name: string) => request.headers.has(name);
  if (request.mode === "no-store" || request.mode === "reload") {
    if (!has("pragma")) added.push(["pragma", "no-cache"]);
    if (!has("cache-control")) added.push(["cache-control", "no-cache"]);
  } else if (request.mode === "no-cache" && !has("cache-control")) {
    added.push(["cache-control", "max-age=0"]);
  }
  if (added.length === 0 && options.signal !== false) return [request.input, request.init];
  const headers = new Headers(request.headers);
  for (const [name, value] of added) headers.set(name, value);
  const init: RequestInit = { ...request.init, headers };
  if (options.signal === false) init.signal = null;
  return [request.input, init];
}
