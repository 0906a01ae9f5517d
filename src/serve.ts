/**
 * What the session builds from what it knows, without I/O: the response served from a stored
 * entry (with its Age, a 304 for the client's own conditionals, or a range), the metadata of a
 * network response, an entry freshened by a 304, and the URLs an unsafe method invalidates.
 *
 * @module
 */

import type { ResolvedOptions } from "./options.ts";
import { hasContentCoding, MAX_DELTA_SECONDS, parseCacheControl, parseFieldNames } from "./cache_control.ts";
import { currentAge, headerValue, isStorable, type PolicyRequest, varyNames } from "./policy.ts";
import { partialContent } from "./range.ts";
import { hasUserinfo, redactUrl, withoutFragment } from "./cache_keys.ts";
import { utf8Location } from "./redirects.ts";
import type { CacheEntry } from "./record.ts";
import type { ParsedRequest } from "./request.ts";
import { CachedResponse, type CacheInfo, servedFields } from "./response.ts";
import { laterStoredBody } from "./served_body.ts";
import { settledWithin } from "./deadline.ts";
import { asReached, expiresAtOf, type Found, namesIgnored } from "./store_plan.ts";
import { varyGenerationOf, varyValues } from "./vary.ts";
import { ifRangeHolds, isNotModified, notModifiedHeaders, updateHeaders } from "./validation.ts";

/** A lookup that found an entry to use. */
export type Hit = Found & { entry: CacheEntry };

/** A request on its way through the cache. */
export interface Flow extends ParsedRequest {
  /** Its cache key. */
  key: string;
  /**
   * A `HEAD`'s own key (when `allowedMethods` lists `HEAD`): its response is stored there when no
   * `GET` response is stored to answer it. `key` is the `GET`'s.
   */
  headKey?: string;
  /** What the caching rules need to know of it. */
  policy: PolicyRequest;
  /** `"GET https://…"`, with ignored parameters removed, for error reports and events. */
  label: string;
  /** A background refresh: no caller sees its response. */
  background?: boolean;
}

/**
 * The response a stored entry gives this request.
 *
 * @param flow The request.
 * @param found The entry and where it was found.
 * @param o The clock, and whether the session keeps `Set-Cookie`.
 * @param how `revalidated`: the origin just confirmed the entry; `handOver`: nothing uses the
 *   entry after this, and its body lies in a buffer of its own, which the response may take;
 *   `byteStream`: the body came over the network for this request, and is served as a miss's is.
 * @param now The current time (epoch ms).
 * @returns The response, and how many body bytes it serves.
 */
export function fromStored(
  flow: Flow,
  found: Hit,
  o: Pick<ResolvedOptions, "now" | "storeSetCookie" | "ignoredParameters">,
  how: { revalidated: boolean; handOver?: boolean | undefined; byteStream?: boolean },
  now: number,
): { response: CachedResponse; bytes: number } {
  const { entry } = found;
  const { revalidated } = how;
  const redirected = found.viaAlias ? false : entry.redirected;
  const url = servedUrl(entry.url, flow.url, o.ignoredParameters);
  // RFC 9111 §5.1: a response served from the cache carries its current age, 2^31 at most ("if
  // any of its age calculations overflows, it MUST transmit an Age header field with a value of
  // 2147483648"; an Age or max-age beyond it reads as it, §1.2.2). The fields stay pairs, copied
  // once by the Response, unless a 304 or a range needs a Headers.
  const age = Math.min(Math.floor(currentAge(entry, now)), MAX_DELTA_SECONDS);
  const fields = servedFields(entry.headers, age, o.storeSetCookie);
  // RFC 9110 §14.2: range handling is defined for GET alone; a HEAD ignores a Range. So does a
  // request whose If-Range names another representation (§13.1.5): it gets the whole response.
  let range = flow.method === "GET" ? flow.headers.get("range") : null;
  if (range !== null && !ifRangeHolds(entry, flow.headers)) range = null;
  const headers = flow.conditional || range !== null ? new Headers(fields) : undefined;
  // RFC 9111 §4.3.2: the cache evaluates the client's own If-None-Match / If-Modified-Since.
  if (headers !== undefined && flow.conditional && isNotModified(entry, flow.headers)) {
    const headersOf304 = notModifiedHeaders(headers);
    const response = CachedResponse.fromEntry(entry, {
      cacheKey: found.key,
      clock: o.now,
      url,
      redirected,
      revalidated,
      headers: headersOf304,
      status: 304,
      body: null,
    });
    return { response, bytes: 0 };
  }
  // A range counts in the bytes of the representation, content coding included (§14.1.1), which
  // fetch has decoded: a coded response is served whole.
  const partial = headers !== undefined && range !== null && entry.status === 200 &&
      !hasContentCoding(headerValue(entry.headers, "content-encoding"))
    ? partialContent(headers, entry.body, range)
    : undefined;
  const body = flow.method === "HEAD" ? null : partial?.body ?? entry.body;
  // (Reached through redirects whose writes are still under way, it ends once they are done.)
  const after = flow.after === undefined || body === null ? undefined : settledWithin(flow.after);
  // (The key the entry is stored under: a Vary variant's own, a HEAD's own, the slot an alias led
  // to; what `cache.get()` and `cache.delete()` take to reach this very response.)
  const response = CachedResponse.fromEntry(entry, {
    cacheKey: found.key,
    clock: o.now,
    url,
    redirected,
    revalidated,
    headers: headers ?? fields,
    status: partial?.status,
    body: after === undefined ? body as Uint8Array<ArrayBuffer> | null : laterStoredBody(body!, after),
    owned: how.handOver === true && body === entry.body,
    // A range's body is a byte stream, as a miss's is: it is read by bring-your-own-buffer readers.
    byteStream: how.byteStream === true || partial !== undefined,
  });
  return { response, bytes: body?.length ?? 0 };
}

/**
 * The URL a stored response is served with: the request's own (without its fragment) when the
 * stored one is it without its userinfo and its ignored parameters, as fetch would give it; else
 * the stored one (a redirect's target, which fetch reached).
 */
function servedUrl(stored: string, asked: URL, ignored: ReadonlySet<string>): string {
  if ((ignored.size === 0 || asked.search === "") && !hasUserinfo(asked)) return stored;
  const href = withoutFragment(asked.href);
  return href !== stored && redactUrl(href, ignored) === stored ? href : stored;
}

/** The caller's own validators, never sent beside the stored response's (Exchange.#exchange). */
export const CALLER_VALIDATORS: readonly string[] = ["if-none-match", "if-modified-since"];

/**
 * Whether a request wants the whole response, body included: not a `HEAD` (its fields alone), nor
 * one with a `Range` (some bytes), nor one with its own `If-None-Match` or `If-Modified-Since`
 * (a `304`, when the copy it names is current). Only such requests take part in request
 * coalescing: a request that wants less would else wait for a body that may take minutes to
 * come, or hold up those that want all of it while it brings less.
 *
 * @param flow The request.
 * @returns `true` unless it is a `HEAD`, or has a `Range`, an `If-None-Match` or an
 *   `If-Modified-Since`.
 */
export function wantsWhole(flow: Flow): boolean {
  // (By the fields, not `conditional`: in a mode other than "default", the request still sends
  // them to the origin, which may answer a `304` that no other request can use.)
  const { headers } = flow;
  return flow.method !== "HEAD" && !headers.has("range") &&
    !CALLER_VALIDATORS.some((name) => headers.has(name));
}

/**
 * Whether a request takes only a stored response (or a 504): by its mode or its `only-if-cached`.
 *
 * @param flow The request.
 * @returns `true` for the `only-if-cached` mode or directive.
 */
export function onlyIfCached(flow: Flow): boolean {
  return flow.mode === "only-if-cached" || flow.policy.cacheControl.onlyIfCached !== undefined;
}

/**
 * The answer to a request that takes only a stored response when none will do. RFC 9111
 * §5.2.1.7: "respond either using a stored response ... or respond with a 504".
 *
 * @param flow The request.
 * @param clock The session's clock.
 * @returns A `504 Gateway Timeout`.
 */
export function gatewayTimeout(
  flow: Pick<Flow, "url"> & { key?: string | undefined },
  clock: () => number,
): CachedResponse {
  const source = { url: withoutFragment(flow.url.href), redirected: false };
  const status = { status: 504, statusText: "Gateway Timeout" };
  return new CachedResponse(null, status, source, networkInfo(flow.key, undefined, clock));
}

/**
 * The cache metadata of a response that came from the network.
 *
 * @param key The request's key (`undefined` when the cache was bypassed).
 * @param entry The entry being stored from it, if any.
 * @param clock The session's clock.
 * @returns The metadata.
 */
export function networkInfo(
  key: string | undefined,
  entry: Omit<CacheEntry, "body"> | undefined,
  clock: () => number,
): CacheInfo {
  return {
    fromCache: false,
    revalidated: false,
    cacheKey: key,
    createdAt: entry === undefined ? undefined : new Date(entry.createdAt),
    expiresAt: entry === undefined || !Number.isFinite(entry.expiresAt)
      ? undefined
      : new Date(entry.expiresAt),
    now: clock,
  };
}

/**
 * RFC 9111 §3.2 and §4.3.4: a 304 refreshes the stored headers and freshness; the body stays.
 * Whether the refreshed response may stay stored is decided anew (§3): the 304 may say
 * `no-store`, say, or in a shared cache `private`; or a `Content-Location` (which a 304 sends as a
 * 200 would, RFC 9110 §15.4.5), `Location` or `Link` that names an ignored parameter, a secret of
 * this request's that the entry would keep and serve to others.
 *
 * @param o The session's options.
 * @param flow The request.
 * @param entry The stored entry.
 * @param response The 304 (or a HEAD response that describes the entry).
 * @param requestTime When the request was sent (epoch ms).
 * @param responseTime When the response arrived (epoch ms).
 * @returns The freshened entry, and whether it may be stored.
 */
export function freshen(
  o: ResolvedOptions,
  flow: Flow,
  entry: CacheEntry,
  response: Response,
  requestTime: number,
  responseTime: number,
): { entry: CacheEntry; storable: boolean } {
  const headers = updateHeaders(entry.headers, response.headers, o, responseTime);
  // §4.1: the stored response is matched on the fields its Vary nominates now: the 304's, else the
  // stored response's own, kept with the values it was stored for (its Vary field may be no part of
  // what is stored, `no-cache="Vary"`, yet the response varies all the same). The response
  // validated is the one for this request, so this request's values are those it was stored for.
  const sent = response.headers.get("vary") !== null &&
    !parseFieldNames(response.headers.get("connection") ?? "").includes("vary");
  const names = sent ? varyNames(response.headers) : entry.vary.map(([name]) => name);
  const vary = names === "*" ? entry.vary : varyValues(names, flow.headers, o);
  // (Other names start a new generation of variants, as a new response with them would.)
  const varyGeneration = varyGenerationOf(vary, entry);
  const refreshed = { ...entry, headers, vary, varyGeneration, requestTime, responseTime };
  const fresh = new Response(null, { status: entry.status, headers });
  const cc = o.cacheControl ? parseCacheControl(fresh.headers.get("cache-control")) : {};
  const storable = names !== "*" && !namesIgnored(fresh.headers, o.ignoredParameters) &&
    (!o.cacheControl || isStorable(flow.policy, entry.status, fresh.headers, cc, o.shared));
  return {
    entry: {
      ...refreshed,
      expiresAt: expiresAtOf(asReached(flow, entry), fresh, refreshed, o, cc) ?? responseTime,
    },
    storable,
  };
}

/**
 * RFC 9111 §4.4: the URIs a response to an unsafe method invalidates — the target URI, the URL
 * that `fetch` followed redirects to (the request reached it too: the Fetch standard invalidates at
 * every hop, and the hops between are not seen here), and the `Location` and `Content-Location` of
 * the same origin as that URL. An error response invalidates nothing, unless `fetch` followed a
 * redirect to it: the target's own response was the redirect, a non-error status, so the target
 * URI is invalidated, and the URL `fetch` reached last when it has the target's origin; nothing
 * the error response names.
 *
 * @param target The request's URL.
 * @param response The response.
 * @returns The URLs; none for an error response that no redirect led to.
 */
export function invalidatedUrls(target: URL, response: Response): URL[] {
  if (response.status >= 400 && !response.redirected) return [];
  const reached = response.redirected ? urlOrUndefined(response.url) ?? target : target;
  const urls = reached.href === target.href ? [target] : [target, reached];
  if (response.status >= 400) return reached.origin === target.origin ? urls : [target];
  for (const name of ["location", "content-location"]) {
    const value = response.headers.get(name);
    // An unparsable Location invalidates nothing. One with bytes that are not ASCII names the URL
    // that `fetch` would follow it to (UTF-8), where the response stored for it is.
    const url = value === null ? undefined : urlOrUndefined(utf8Location(value), reached);
    if (url?.origin === reached.origin) urls.push(url);
  }
  return urls;
}

function urlOrUndefined(value: string, base?: URL): URL | undefined {
  try {
    return new URL(value, base);
  } catch {
    return undefined;
  }
}

/**
 * The request without the named header fields: itself when it has none of them.
 *
 * @param flow The request.
 * @param names Field names, lower-case.
 * @returns The request to send.
 */
export function without(flow: Flow, names: readonly string[]): Flow {
  if (!names.some((name) => flow.headers.has(name))) return flow;
  const headers = new Headers(flow.headers);
  for (const name of names) headers.delete(name);
  return { ...flow, headers, init: { ...flow.init, headers }, conditional: false };
}

/**
 * The request without the caller's own validators ({@linkcode CALLER_VALIDATORS}): sent beside the
 * stored response's, they would have the origin answer for the caller's copy.
 *
 * @param flow The request.
 * @returns The request to send.
 */
export function unconditional(flow: Flow): Flow {
  return without(flow, CALLER_VALIDATORS);
}
