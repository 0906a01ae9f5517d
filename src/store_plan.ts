/**
 * What to store for a network response, under which key, fresh until when, and kept until when.
 *
 * @module
 */

import { hasUserinfo, redactUrl, withoutFragment } from "./cache_keys.ts";
import { type CacheControl, mediaType, parseCacheControl } from "./cache_control.ts";
import { DO_NOT_CACHE, type ExpireAfter, expiresAtFor } from "./expiration.ts";
import type { ResolvedOptions } from "./options.ts";
import {
  allowsCaching,
  correctedInitialAge,
  explicitLifetime,
  forbidsStale,
  headerValue,
  heuristicLifetime,
  isStorable,
  type PolicyRequest,
  storableHeaders,
  varyNames,
} from "./policy.ts";
import type { CacheEntry } from "./record.ts";
import { longestStaleWindow } from "./stale_windows.ts";
import { slotKey, type Varied, varyGenerationOf, varyValues } from "./vary.ts";

/**
 * How long an entry that can be revalidated is kept after it expires, when nothing asks for
 * longer: one day. Native expiry (Redis PXAT, TTL indexes, KV `expireIn`) uses it.
 */
export const REVALIDATION_WINDOW_SECONDS = 86_400;

/**
 * Statuses to which the configured expiration (`expireAfter`, `urlsExpireAfter`) gives freshness
 * when `allowedCodes` is not set; other statuses are stored only on the origin's word (RFC 9111 §3).
 */
const CONFIGURED_CODES: ReadonlySet<number> = new Set([200]);

/** The result of a lookup. */
export interface Found {
  /** Storage key of the entry (or of the primary slot when no variant matched). */
  key: string;
  /** The matching entry, if any. */
  entry?: CacheEntry;
  /** Whether the entry was found through a redirect alias. */
  viaAlias: boolean;
  /**
   * What the request's own primary slot holds, matching or not (decides where a variant goes):
   * nothing when the request went through a redirect alias, which it follows from an empty slot.
   */
  primary?: Varied | undefined;
  /** For an entry found beside the primary slot (a Vary variant), that slot's key. */
  beside?: string | undefined;
  /**
   * For a reload, which uses nothing stored: the stored response its answer replaces, the one a
   * lookup would have selected (under `key`: the primary slot, a variant beside it, or the slot a
   * redirect alias leads to), if any.
   */
  replaced?: CacheEntry | undefined;
  /** Whether the entry's body lies in a buffer this lookup alone holds (see `CacheBackend.read`). */
  owned?: boolean | undefined;
}

/** The request side of a storage decision. */
export interface PlanRequest {
  key: string;
  /** A `HEAD`'s own key: its response is stored there, never under `key` (the `GET`'s). */
  headKey?: string | undefined;
  url: URL;
  method: string;
  headers: Headers;
  expireAfter: ExpireAfter | undefined;
  policy: PolicyRequest;
}

/** A storage decision. */
export interface Plan {
  key: string;
  entry: Omit<CacheEntry, "body">;
  deleteAt: number;
}

/**
 * Decides whether and how to store a network response.
 *
 * @param request The request.
 * @param primary What the request's primary slot holds (for Vary variants).
 * @param response The network response.
 * @param requestTime When the request was sent (epoch ms).
 * @param responseTime When the response arrived (epoch ms).
 * @param o The session's options.
 * @returns The plan, or `undefined` when the response is not stored.
 */
export function planEntry(
  request: PlanRequest,
  primary: Varied | undefined,
  response: Response,
  requestTime: number,
  responseTime: number,
  o: ResolvedOptions,
): Plan | undefined {
  const { status, headers } = response;
  if (!o.allowedMethods.has(request.method)) return undefined;
  // A HEAD's response goes under its own key, never the GET's; not one that fetch reached through
  // redirects (its alias would be under the GET's key).
  const key = request.method === "HEAD" ? request.headKey : request.key;
  if (key === undefined || (request.method === "HEAD" && response.redirected)) return undefined;
  if (!isAllowedStatus(status, o)) return undefined;
  // A 412 answers the request's own If-Match or If-Unmodified-Since (RFC 9110 §15.5.13), sent on
  // in the modes that do not bypass the cache (`no-cache`, `reload`, `force-cache`), and no part
  // of the key: stored, it would answer the requests without them, as a 416 would (above).
  if (status === 412 && (request.headers.has("if-match") || request.headers.has("if-unmodified-since"))) {
    return undefined;
  }
  // An event stream (text/event-stream) is not over when it ends for its caller: collecting it
  // would keep its connection open after the caller let go, and identical requests waiting for
  // its end, which may never come. It passes through, as a response too large to store does.
  if (isEventStream(headers)) return undefined;
  const cc = o.cacheControl ? parseCacheControl(headers.get("cache-control")) : {};
  if (o.cacheControl && !isStorable(request.policy, status, headers, cc, o.shared)) return undefined;
  const names = varyNames(headers);
  if (names === "*") return undefined;
  // A redirect is followed with what its Location says, secrets and all, and an origin may echo the
  // request URL in Content-Location: a response whose header names an ignored parameter is not
  // stored, or that secret would be (and served to requests with other values).
  if (namesIgnored(headers, o.ignoredParameters)) return undefined;
  if (response.redirected && !aliasKnowsUserinfo(request.url, response.url)) return undefined;
  if (o.filter !== undefined && !filtered(o.filter, filterView(request.url, response))) {
    return undefined;
  }
  const vary = varyValues(names, request.headers, o);
  const base = {
    method: request.method,
    url: storedUrl(request.url, response, o),
    redirected: response.redirected,
    status,
    statusText: response.statusText,
    headers: dated(storableHeaders(headers, cc, o), responseTime),
    vary,
    varyGeneration: varyGenerationOf(vary, primary),
    requestTime,
    responseTime,
    createdAt: responseTime,
  };
  const expiresAt = expiresAtOf(asReached(request, base), response, base, o, cc);
  if (expiresAt === undefined) return undefined;
  const entry = { ...base, expiresAt };
  const deleteAt = planDeleteAt(entry, o, cc);
  if (deleteAt <= responseTime) return undefined;
  return {
    key: slotKey(key, entry, primary, request.headers),
    entry,
    deleteAt,
  };
}

/**
 * RFC 9110 §6.6.1: "A recipient with a clock that receives a response message without a Date
 * header field MUST record the time it was received and append a corresponding Date header field
 * to the message's header section if it is cached", as a 304 that freshens an entry is.
 *
 * @param fields The fields to store (appended to in place).
 * @param responseTime When the response arrived (epoch ms).
 * @returns The fields.
 */
function dated(fields: [string, string][], responseTime: number): [string, string][] {
  if (!fields.some(([name]) => name === "date")) fields.push(["date", new Date(responseTime).toUTCString()]);
  return fields;
}

/**
 * Whether a request bypasses the cache because its expiration is `DO_NOT_CACHE`: its own
 * `expireAfter`, else the first matching URL pattern's, else the session's. It is then neither
 * answered from the cache nor stored, whatever the response says (a cache may always refuse).
 *
 * @param request The request's `expireAfter` and URL.
 * @param o The session's options.
 * @returns `true` when the request bypasses the cache.
 */
export function bypassesCache(
  request: Pick<PlanRequest, "expireAfter" | "url">,
  o: Pick<ResolvedOptions, "urlExpiration" | "expireAfter">,
): boolean {
  if (request.expireAfter !== undefined) return request.expireAfter === DO_NOT_CACHE;
  // Every request asks: its URL is matched against the patterns only when a refusal is configured.
  if (!o.urlExpiration.refuses && o.expireAfter !== DO_NOT_CACHE) return false;
  return (o.urlExpiration(request.url) ?? o.expireAfter) === DO_NOT_CACHE;
}

/**
 * The request as the expiration options see a response: one that `fetch` reached through
 * redirects is that of the URL it reached (as stored), whose `urlsExpireAfter` pattern decides, a
 * `DO_NOT_CACHE` one keeping it out, as when the session follows the redirects one step at a time.
 *
 * @param request The request.
 * @param response Whether the response was reached through redirects, and its stored URL.
 * @returns The request, with the URL the response came from.
 */
export function asReached(
  request: ConfiguredBy,
  response: Pick<CacheEntry, "redirected" | "url">,
): ConfiguredBy {
  // (A record of another writer may hold a URL that does not parse: the request's own decides.)
  const url = response.redirected ? URL.parse(response.url) : null;
  return url === null ? request : { expireAfter: request.expireAfter, method: request.method, url };
}

/** What of a request the expiration options read. */
type ConfiguredBy = Pick<PlanRequest, "expireAfter" | "url" | "method">;

/** Methods whose responses may be stored only with explicit freshness, or a configured one. */
const EXPLICIT_ONLY_METHODS: ReadonlySet<string> = new Set(["DELETE", "PATCH", "POST", "PUT"]);

/**
 * When a response stops being fresh (epoch ms), by the precedence: the request's `expireAfter`,
 * the response's explicit freshness (with `cacheControl`), the first matching URL pattern, the
 * session's `expireAfter`, heuristic freshness; and with none of those, at once when the entry can
 * be revalidated or served stale (the session's `staleIfError`, the response's own stale windows),
 * else `undefined` (not stored). A response to `POST`, `PATCH`, `PUT` or `DELETE` gets neither of
 * the last two: only explicit or configured freshness stores it (RFC 9110 §9.3.3). `DO_NOT_CACHE`
 * comes before all of these ({@linkcode bypassesCache}). When `allowedCodes` is not set, configured expirations
 * give freshness to `200` responses only.
 *
 * @param request The request's `expireAfter`, URL and method.
 * @param response Status and headers of the response.
 * @param times When the request was sent and the response arrived (epoch ms).
 * @param o The session's options.
 * @param cc The response's directives, when they are parsed already.
 * @returns Epoch ms (`Infinity` for never), or `undefined` for "do not store".
 */
export function expiresAtOf(
  request: Pick<PlanRequest, "expireAfter" | "url" | "method">,
  response: Pick<Response, "status" | "headers">,
  times: { requestTime: number; responseTime: number },
  o: ResolvedOptions,
  cc: CacheControl = o.cacheControl ? parseCacheControl(response.headers.get("cache-control")) : {},
): number | undefined {
  const { requestTime, responseTime } = times;
  const { headers, status } = response;
  // Configuration gives freshness to the statuses it is meant for.
  const applies = (value: ExpireAfter | undefined): value is ExpireAfter =>
    value !== undefined && (o.allowedCodes !== undefined || CONFIGURED_CODES.has(status));
  if (bypassesCache(request, o)) return undefined;
  if (applies(request.expireAfter)) return expiresAtFor(request.expireAfter, responseTime);
  // A response's freshness runs from its corrected initial age (§4.2.3), and so does its staleness
  // when it has none: one that arrived 100 s old is 100 s stale, whatever window it gives.
  const fromAge = (lifetime: number) =>
    responseTime + (lifetime - correctedInitialAge(headers, requestTime, responseTime)) * 1000;
  // RFC 9110 §9.3.3 (and RFC 5789 §2 for PATCH): a response to POST is cacheable only with
  // explicit freshness; PUT and DELETE ones not at all. A session that stores them stores them
  // when the response or the configuration says for how long: never by heuristic freshness, nor
  // stale from the start for its validators (never sent for these methods) or a stale window.
  const explicitOnly = EXPLICIT_ONLY_METHODS.has(request.method);
  if (o.cacheControl) {
    // RFC 9111 §5.2.2.4: no-cache — storable, but never used without revalidation. It does not
    // make a response storable by itself (§3): without explicit freshness, a heuristically
    // cacheable status, `public` (or `private` in a private cache), or a configured expiration
    // for it, the response is not stored, as it would not be without the directive.
    if (cc.noCache === true) {
      const allowed = (explicitOnly
        ? explicitLifetime(headers, cc, o.shared, responseTime) !== undefined
        : allowsCaching(status, headers, cc, o.shared)) ||
        applies(o.urlExpiration(request.url) ?? o.expireAfter);
      return allowed ? fromAge(0) : undefined;
    }
    const lifetime = explicitLifetime(headers, cc, o.shared, responseTime);
    if (lifetime !== undefined) return fromAge(lifetime);
  }
  const configured = o.urlExpiration(request.url) ?? o.expireAfter;
  if (applies(configured)) return expiresAtFor(configured, responseTime);
  if (!o.cacheControl) return Infinity;
  if (explicitOnly) return undefined;
  const heuristic = heuristicLifetime(status, headers, responseTime, cc);
  if (heuristic !== undefined) return fromAge(heuristic);
  // Stale from the start, it is of use only revalidated, or served stale within a window: the
  // session's stale-if-error, or the response's own (RFC 5861), unless its directives forbid that.
  const ownWindow = !forbidsStale(cc, o.shared) &&
    ((cc.staleWhileRevalidate ?? 0) > 0 || (cc.staleIfError ?? 0) > 0);
  const usableLater = headers.has("etag") || headers.has("last-modified") || o.staleIfError > 0 || ownWindow;
  return allowsCaching(status, headers, cc, o.shared) && usableLater ? fromAge(0) : undefined;
}

/**
 * When the storage may reclaim an entry (epoch ms): once it can no longer be served stale
 * (`stale-while-revalidate`, `stale-if-error`: the response's, with `cacheControl`, or the
 * session's, or another's over the storage; none for a session with `cacheControl` where the
 * directives forbid stale use) nor revalidated (it has a validator: kept for
 * {@linkcode REVALIDATION_WINDOW_SECONDS} after it expired, or after it arrived when it was stale
 * on arrival: an origin clock behind ours, a large `Age`, an `expireAfter` Date long past).
 *
 * @param entry The entry (headers and expiry).
 * @param o The session's options.
 * @param cc The entry's directives, when they are parsed already.
 * @returns Epoch ms, `Infinity` for never.
 */
export function planDeleteAt(
  entry: Pick<CacheEntry, "headers" | "expiresAt" | "responseTime">,
  o: ResolvedOptions,
  cc?: CacheControl,
): number {
  if (!Number.isFinite(entry.expiresAt)) return Infinity;
  // The directives, also for a session that ignores them: another over the storage may not.
  if (!o.cacheControl || cc === undefined) {
    cc = parseCacheControl(headerValue(entry.headers, "cache-control"));
  }
  const validators = headerValue(entry.headers, "etag") !== null ||
    headerValue(entry.headers, "last-modified") !== null;
  const stale = longestStaleWindow(o.backend.storage, o, cc);
  const kept = entry.expiresAt + stale * 1000;
  if (!validators) return kept;
  // The stale windows count from expiry; revalidation from arrival at the earliest.
  return Math.max(kept, Math.max(entry.expiresAt, entry.responseTime) + REVALIDATION_WINDOW_SECONDS * 1000);
}

/**
 * Response headers that hold URLs, often with the request's query: a redirect's, an echo's, and
 * `Refresh` (`0; url=…`, a redirect that browsers follow, as the HTML standard says).
 */
const URL_HEADERS = ["location", "content-location", "link", "refresh"];
/** Where a URL inside a `Link` value ends (a quoted `anchor`'s too). */
const URL_END = /[>"\s]/;

/**
 * Whether a response's `Location`, `Content-Location`, `Link` (a page's `next`, echoing the
 * request's query; a link's `anchor`) or `Refresh` names one of the ignored parameters, in a query
 * or in a fragment (where an implicit grant's token goes).
 *
 * @param headers The response headers (a 304's merged with the stored ones, too).
 * @param ignored The session's `ignoredParameters`.
 * @returns `true` when one is named: the response is not stored.
 */
export function namesIgnored(headers: Headers, ignored: ReadonlySet<string>): boolean {
  if (ignored.size === 0) return false;
  return URL_HEADERS.some((name) => hasIgnored(headers.get(name), ignored));
}

/**
 * Whether a field value names one of the ignored parameters in a query or a fragment, read as
 * written: a value that no URL parser takes (a port above 65535) may carry one all the same. A
 * `Link` holds several URLs: each part ends where its URL does (`>`, a quote, a space).
 */
function hasIgnored(value: string | null, ignored: ReadonlySet<string>): boolean {
  if (value === null) return false;
  const parts = value.split(/[?#]/);
  for (let i = 1; i < parts.length; i++) {
    const query = new URLSearchParams(parts[i]!.split(URL_END, 1)[0]);
    for (const name of ignored) if (query.has(name)) return true;
  }
  return false;
}

/**
 * Whether the alias from where `fetch` followed redirects to (`aliasKeyOf` in `lookup.ts`) holds the
 * userinfo that `fetch` sent there: it holds the request's own on its origin, and none on another.
 * A `Location` may name credentials of its own (`http://bob:pw@…`, which Deno's fetch sends on):
 * the response is then that user's, which the alias would lead requests without them to. The
 * stored URL holds no userinfo to tell them apart by, so such a response is not stored.
 *
 * @param requested The request's URL.
 * @param reached Where `fetch` followed the redirects to.
 * @returns `false` when `reached` has userinfo other than the alias's.
 */
function aliasKnowsUserinfo(requested: URL, reached: string): boolean {
  if (!reached.includes("@")) return true;
  const url = new URL(reached);
  return !hasUserinfo(url) ||
    (url.origin === requested.origin && url.username === requested.username &&
      url.password === requested.password);
}

/** Whether a response is a stream of server-sent events (its media type is `text/event-stream`). */
function isEventStream(headers: Headers): boolean {
  return mediaType(headers.get("content-type")) === "text/event-stream";
}

/**
 * Whether a status may be stored at all: the configured `allowedCodes`, or when they are not set,
 * `200` without `cacheControl` and any status with it (the policy decides). Partial and `304`
 * responses are never stored whole (RFC 9111 §3.3, §4.3.4), nor a `416`: it answers the request's
 * `Range` (RFC 9110 §15.5.17), which is no part of the key, not the resource.
 */
function isAllowedStatus(status: number, o: ResolvedOptions): boolean {
  // A status the Response constructor refuses (fetch passes on 600 to 999) could not be served
  // from a record: such a response goes to the caller unstored.
  if (status < 200 || status > 599 || status === 206 || status === 304 || status === 416) {
    return false;
  }
  if (o.allowedCodes !== undefined) return o.allowedCodes.has(status);
  return o.cacheControl || CONFIGURED_CODES.has(status);
}

/**
 * What `filter` says of a response. It is called synchronously: a promise it returns (an `async`
 * function) would be truthy whatever it resolves to, so it is an error (reported, nothing stored).
 *
 * @throws {TypeError} When `filter` returns a promise; whatever `filter` throws.
 */
function filtered(filter: (response: Response) => boolean, view: Response): boolean {
  const result: unknown = filter(view);
  if (typeof (result as PromiseLike<unknown> | null)?.then === "function") {
    throw new TypeError("filter must return true or false, not a promise: it is called synchronously");
  }
  return Boolean(result);
}

/**
 * What `filter` sees of a response: its status and headers, its `url` and `redirected` (a filter
 * by URL works as on the response fetch gives), and its status text as fetch gave it, also one
 * the Response constructor refuses (Node's fetch gives a UTF-8 reason phrase as it is).
 */
function filterView(requested: URL, response: Response): Response {
  const { status, statusText, headers, redirected } = response;
  const view = new Response(null, { status, headers });
  return Object.defineProperties(view, {
    statusText: { value: statusText },
    url: { value: responseUrl(requested, response) },
    redirected: { value: redirected },
  });
}

/** The URL an entry stored for a response holds: where `fetch` reached it, redacted. */
function storedUrl(requested: URL, response: Response, o: ResolvedOptions): string {
  return redactUrl(responseUrl(requested, response), o.ignoredParameters);
}

/**
 * Whether a response that freshens a stored one (a `304`, a `HEAD`'s `200`) comes from where the
 * stored one did. A `fetch` that follows redirects itself may have reached it at another URL (the
 * one that URL leads to now), whose validators or length may be the stored response's own (two
 * files deployed at once share a `Last-Modified`): it says nothing of the stored response then.
 *
 * @param entry The stored response.
 * @param requested The request's URL.
 * @param response The response.
 * @param o The session's options.
 * @returns `false` when `fetch` reached the response at another URL than the stored one's.
 */
export function reachedWhereStored(
  entry: Pick<CacheEntry, "url">,
  requested: URL,
  response: Response,
  o: ResolvedOptions,
): boolean {
  // (Bun's fetch keeps the request's fragment in a response's url: the fragment asked for differs.)
  return !response.redirected ||
    withoutFragment(storedUrl(requested, response, o)) === withoutFragment(entry.url);
}

/**
 * The URL of a response as fetch reports it (without the fragment). Only a redirected response's
 * own `url` is read: it cannot differ otherwise, and Deno parses it anew on every read.
 */
function responseUrl(requested: URL, response: Pick<Response, "url" | "redirected">): string {
  return response.redirected ? response.url : withoutFragment(requested.href);
}

/**
 * Where an entry that a `304` or a `HEAD` response freshened is kept: where it was found, unless
 * it was a Vary variant whose response now names other headers than the primary slot's entry (it
 * starts a new generation, `varyGenerationOf`). It then takes the primary slot, as a new response
 * with those names does: beside it, under the primary's generation no more, no lookup selects it.
 *
 * @param stale Where the entry was found.
 * @param cached The entry as found.
 * @param entry The entry freshened.
 * @returns Where to keep it.
 */
export function freshenedSlot(stale: Found, cached: CacheEntry, entry: CacheEntry): Found {
  if (stale.beside === undefined || entry.varyGeneration === cached.varyGeneration) return stale;
  return { ...stale, key: stale.beside, beside: undefined };
}
