/**
 * Reading what a `fetch(input, init)` call asks for, without building a `Request` unless the
 * network needs one: hits stay cheap.
 *
 * @module
 */

import { parseHttpDate } from "./cache_control.ts";
import { hrefWithoutUserinfo } from "./cache_keys.ts";
import { checkExpireAfter, describe, type ExpireAfter, isPlainObject } from "./expiration.ts";

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
  /** The redirect mode (`"follow"` unless the call says otherwise). */
  redirect: RequestRedirect;
  mode: CacheMode;
  expireAfter: ExpireAfter | undefined;
  /**
   * Whether a `GET` or `HEAD` carries its own `If-None-Match` (one that lists something) or valid
   * `If-Modified-Since`: a fresh stored response answers it (with a `304` when it matches); a
   * stale one it names is revalidated; else the origin answers, asked with those validators alone
   * (and on a failure, what is stored that would have answered it without them).
   */
  conditional: boolean;
  /**
   * The request's `integrity` metadata (`""` when none): such a request bypasses the cache, since
   * fetch checks what it gets against it, and a cache could not (a stored response, another
   * request's shared one, a redirect followed a step at a time).
   */
  integrity: string;
  /**
   * The writes of the redirects that the session followed to this request, where one was still
   * under way as it was made: its body ends only once they have settled too (2 s at most), so
   * that a caller who read it finds every step in the cache (`followRedirects`).
   */
  after?: Promise<unknown> | undefined;
}

const MODES = new Set<string>(["default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached"]);
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
/** Methods that change nothing at the origin (RFC 9110 §9.2.1): their responses invalidate nothing. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
/** Preconditions a cache can evaluate against a stored response (RFC 9111 §4.3.2). */
const CACHE_CONDITIONALS = ["if-none-match", "if-modified-since"];
/** Preconditions meant for the origin: the request bypasses the cache. */
const ORIGIN_CONDITIONALS = ["if-unmodified-since", "if-match", "if-range"];
/** Whether an `If-None-Match` lists anything (`*` or an entity tag), not an empty list. */
const NAMES_A_TAG = /[^\s,]/;
/**
 * The headers of every request that has none (the common `fetch(url)`), shared: read without the
 * platform's argument checks (a hit looks up half a dozen names), and immutable, so that no code
 * handed them (a `keyFn`) can change them for the requests that follow.
 */
class NoHeaders extends Headers {
  override get(_name: string): string | null {
    return null;
  }

  override has(_name: string): boolean {
    return false;
  }

  override append(): never {
    throw immutable();
  }

  override set(): never {
    throw immutable();
  }

  override delete(): never {
    throw immutable();
  }
}

function immutable(): TypeError {
  return new TypeError(
    "Cannot change the headers of a request that has none: they are shared (copy them first)",
  );
}

const EMPTY_HEADERS: Headers = new NoHeaders();

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
  // fetch takes a null init as none (WebIDL: a dictionary of null is empty); one that is no object
  // is refused as the runtime's own fetch refuses it (Deno's and Node's throw a TypeError, Bun's
  // takes it as none), also on a hit.
  if (init === null) init = undefined;
  else if (init !== undefined && typeof init !== "object" && typeof init !== "function") {
    new Request("http://127.0.0.1/", init);
    init = undefined;
  }
  // An init that is no plain object (a `Request`, a class instance) has its members read as fetch
  // reads them, inherited getters included: spreading it would drop them.
  if (init !== undefined && !isPlainObject(init)) init = ownMembers(init);
  let forwarded: RequestInit | undefined = init;
  let mode: unknown = "default";
  let expireAfter: ExpireAfter | undefined;
  const request = input instanceof Request ? asFetchReads(input) : undefined;
  if (request?.cache) mode = request.cache;
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
    url = request !== undefined
      ? new URL(request.url)
      : input instanceof URL
      ? new URL(input.href)
      : absolute(String(input));
  } catch {
    return undefined;
  }
  // (A method that is no string is converted as fetch converts it: `1` is the method "1".)
  const given: unknown = forwarded?.method ?? request?.method ?? "GET";
  const method = normalizeMethod(typeof given === "string" ? given : `${given as string}`);
  const headers = forwarded?.headers !== undefined
    ? new Headers(forwarded.headers)
    : request !== undefined
    ? new Headers(request.headers)
    : EMPTY_HEADERS;
  const redirect = forwarded?.redirect ?? request?.redirect ?? "follow";
  if (forwarded !== undefined) checkInit(url, method, forwarded, request);
  let cacheMode = mode as CacheMode;
  const has = (name: string) => headers.has(name);
  // RFC 9111 §4.3.2: a cache that would use a stored response "SHOULD evaluate" If-None-Match and
  // If-Modified-Since itself (only for GET and HEAD, RFC 9110 §13.1.3). Any other request that
  // carries conditional fields bypasses the cache as if its mode were "no-store", as Fetch §4.5
  // does for all of them. (A request without headers answers each `has` at once: NoHeaders.)
  const forOrigin = ORIGIN_CONDITIONALS.some(has) ||
    (method !== "GET" && method !== "HEAD" && CACHE_CONDITIONALS.some(has));
  if (cacheMode === "default" && forOrigin) cacheMode = "no-store";
  // An If-None-Match that lists no entity tag (`etag ?? ""`) names no copy: it holds, and the stored
  // response answers the request whole (RFC 9110 §13.1.2), If-Modified-Since being ignored beside
  // it (§13.1.3). So is an If-Modified-Since that is not a valid HTTP-date (§13.1.3).
  const ifNoneMatch = headers.get("if-none-match");
  const conditional = cacheMode === "default" &&
    (ifNoneMatch !== null
      ? NAMES_A_TAG.test(ifNoneMatch)
      : parseHttpDate(headers.get("if-modified-since")) !== undefined);
  return {
    // Fetch reads its arguments once, at the call: a URL or headers the caller changes afterwards
    // (one URL reused for a run of requests, a Request's headers) must change neither what the
    // origin is asked nor the key its answer is stored under.
    input: input instanceof URL ? url : input,
    init: headers === EMPTY_HEADERS ? forwarded : { ...forwarded, headers },
    url,
    method,
    headers,
    redirect,
    mode: cacheMode,
    expireAfter,
    conditional,
    integrity: forwarded?.integrity ?? request?.integrity ?? "",
  };
}

/**
 * Whether fetch reads a `Request` through its getters, those a subclass overrides too (Bun), rather
 * than what the request holds (Deno, Node, as the Fetch standard reads it): the `Request`
 * constructor, which fetch calls, tells.
 */
const READS_GETTERS: boolean = (() => {
  class Probe extends Request {
    override get url(): string {
      return "http://127.0.0.1/getter";
    }
  }
  return new Request(new Probe("http://127.0.0.1/")).url !== "http://127.0.0.1/";
})();

/** The members of a `Request` the cache reads, by the getters that read what the request holds. */
const HELD_MEMBERS: PropertyDescriptorMap = Object.fromEntries(
  (["url", "method", "headers", "redirect", "cache", "integrity", "signal", "body"] as const).map((name) => {
    const get = Object.getOwnPropertyDescriptor(Request.prototype, name)!.get!;
    return [name, {
      get(this: { request: Request }) {
        return get.call(this.request);
      },
    }];
  }),
);

/**
 * A `Request` as fetch reads it: the request itself, or where fetch reads what it holds, a view of
 * that for an instance of a subclass whose getters may say otherwise (a framework's request class
 * with its own `url`), which fetch sends as it holds it. Read through its getters, the cache would
 * key (and serve) another URL's, method's or header fields' response than the one fetch got.
 *
 * @param request The request.
 * @returns It, or a view of what it holds.
 */
function asFetchReads(request: Request): Request {
  if (READS_GETTERS || Object.getPrototypeOf(request) === Request.prototype) return request;
  return Object.create({ request }, HELD_MEMBERS) as Request;
}

/**
 * A URL as fetch resolves it: a relative one against `location` (Deno's `--location`), where
 * there is one.
 *
 * @param input The URL.
 * @returns It parsed.
 * @throws {TypeError} When it does not parse.
 */
function absolute(input: string): URL {
  try {
    return new URL(input);
  } catch (error) {
    const base = (globalThis as { location?: { href: string } }).location?.href;
    if (base === undefined) throw error;
    return new URL(input, base);
  }
}

/** The members of the Fetch standard's `RequestInit`: a `Request` built from an init holds them all. */
const STANDARD_MEMBERS = [
  "method",
  "headers",
  "body",
  "referrer",
  "referrerPolicy",
  "mode",
  "credentials",
  "cache",
  "redirect",
  "integrity",
  "keepalive",
  "signal",
  "duplex",
  "priority",
  "window",
] as const;
/** The members of a `RequestInit`, the runtimes' own (Deno's `client`, undici's `dispatcher`) too. */
const INIT_MEMBERS = [...STANDARD_MEMBERS, "client", "dispatcher", "expireAfter"] as const;
/** {@linkcode STANDARD_MEMBERS}, to look up. */
const STANDARD = new Set<string>(STANDARD_MEMBERS);

/**
 * The init's members as fetch reads them (by [[Get]]), those that are not `undefined`, and its own
 * other members, which the wrapped fetch may read (Next.js's `next`, Cloudflare's `cf`).
 */
function ownMembers(init: CacheRequestInit): CacheRequestInit {
  const members: Record<string, unknown> = {};
  for (const name of Object.keys(init)) {
    const value = (init as Record<string, unknown>)[name];
    if (value !== undefined) members[name] = value;
  }
  for (const name of INIT_MEMBERS) {
    const value = (init as Record<string, unknown>)[name];
    if (value !== undefined) members[name] = value;
  }
  return members as CacheRequestInit;
}

/**
 * The members of an init that a `Request` built from it does not hold (Next.js's `next`,
 * Cloudflare's `cf`, a runtime's own), which the wrapped fetch may read: they go to it beside
 * such a `Request`.
 *
 * @param init The init.
 * @returns Those members, or `undefined` when it has none.
 */
export function nonStandardMembers(init: RequestInit | undefined): RequestInit | undefined {
  let members: Record<string, unknown> | undefined;
  for (const name of Object.keys(init ?? {})) {
    if (!STANDARD.has(name)) (members ??= {})[name] = (init as Record<string, unknown>)[name];
  }
  return members;
}

/** Init members the session reads none of, which the `Request` constructor checks. */
const CHECKED_BY_REQUEST = [
  "mode",
  "credentials",
  "priority",
  "window",
  "referrer",
  "referrerPolicy",
  "keepalive",
] as const;

/**
 * Throws the `TypeError` fetch would for an init it refuses, before the cache could answer it: a
 * body (its own or its `Request`'s) with `GET` or `HEAD`, or a member the `Request` constructor
 * refuses (a forbidden method among them). Only the members given are checked: a plain init of one
 * of the six standard methods costs nothing.
 *
 * @throws {TypeError} What fetch would throw.
 */
function checkInit(url: URL, method: string, init: RequestInit, request: Request | undefined): void {
  // (A Request's body is looked at only when it matters: on Deno reading `request.body` turns a
  // body of known length into a stream, which fetch then sends chunked, without Content-Length.)
  if (method === "GET" || method === "HEAD") {
    const body = init.body !== undefined ? init.body : request?.body;
    if (body != null) {
      throw new TypeError(`Cannot fetch ${hrefWithoutUserinfo(url)}: a ${method} request cannot have a body`);
    }
  }
  let checked: Record<string, unknown> | undefined;
  for (const name of CHECKED_BY_REQUEST) {
    if (init[name] !== undefined) (checked ??= {})[name] = init[name];
  }
  // `duplex` too (Node's refuses all but "half"), and a signal that is no AbortSignal (the session
  // would call its methods).
  const { signal, duplex } = init as { signal?: unknown; duplex?: unknown };
  if (duplex !== undefined) (checked ??= {}).duplex = duplex;
  if (signal != null && !(signal instanceof AbortSignal)) (checked ??= {}).signal = signal;
  // A method other than the six standard ones may be one fetch refuses (`TRACE`, `CONNECT`, one
  // that is no token): refused here, it gets no 504 from a request for what is stored alone.
  if (!NORMALIZED_METHODS.has(method)) (checked ??= {}).method = method;
  // (Checked without the URL's userinfo, a credential: Node's `Request` refuses it, and names it in
  // its message, where the wrapped fetch may take it.)
  if (checked !== undefined) new Request(hrefWithoutUserinfo(url), checked);
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
 * The caller's abort signal, as fetch would follow it.
 *
 * @param request The parsed request.
 * @returns The signal of its init, else of its `Request`.
 */
export function signalOf(request: Pick<ParsedRequest, "input" | "init">): AbortSignal | null | undefined {
  if (request.init?.signal !== undefined) return request.init.signal;
  return request.input instanceof Request ? asFetchReads(request.input).signal : undefined;
}

/**
 * The request with another abort signal than the caller's (for work that outlives the caller's
 * request, as a background refresh, which the session's `close()` aborts).
 *
 * @param request The parsed request.
 * @param signal The signal.
 * @returns The fields to replace: an init with that signal.
 */
export function withSignal(request: Pick<ParsedRequest, "init">, signal: AbortSignal): { init: RequestInit } {
  return { init: { ...request.init, signal } };
}

/**
 * The arguments for the network fetch: the caller's request with `extra` header fields set, and
 * the header fields Fetch §4.5 adds for the cache mode (`Pragma`/`Cache-Control: no-cache` for
 * `no-store` and `reload`, `Cache-Control: max-age=0` for `no-cache`).
 *
 * @param request The parsed request.
 * @param extra Header fields to set, such as validators.
 * @param options `manual: true` asks for a redirect itself rather than where it leads (the
 *   session follows it).
 * @returns `[input, init]` for fetch.
 */
export function networkArguments(
  request: ParsedRequest,
  extra: readonly [string, string][] = [],
  options: { manual?: boolean } = {},
): [RequestInfo | URL, RequestInit | undefined] {
  const added: [string, string][] = [...extra];
  const has = (name: string) => request.headers.has(name);
  if (request.mode === "no-store" || request.mode === "reload") {
    if (!has("pragma")) added.push(["pragma", "no-cache"]);
    if (!has("cache-control")) added.push(["cache-control", "no-cache"]);
  } else if (request.mode === "no-cache" && !has("cache-control")) {
    added.push(["cache-control", "max-age=0"]);
  }
  if (added.length === 0 && options.manual !== true) {
    return [request.input, request.init];
  }
  const init: RequestInit = { ...request.init };
  if (added.length > 0) {
    const headers = new Headers(request.headers);
    for (const [name, value] of added) headers.set(name, value);
    init.headers = headers;
  }
  if (options.manual === true) init.redirect = "manual";
  return [request.input, init];
}
