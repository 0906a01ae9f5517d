/**
 * Validation (RFC 9111 §4.3): the conditional request a cache sends for a stored response, which
 * stored response a `304` or `HEAD` response selects and how it freshens the stored header fields,
 * and how the cache itself answers a client's `If-None-Match` / `If-Modified-Since`. Pure
 * functions over header fields.
 *
 * @module
 */

import {
  type CacheControl,
  hasContentCoding,
  parseCacheControl,
  parseFieldNames,
  parseHttpDate,
} from "./cache_control.ts";
import { headerValue, storableHeaders } from "./policy.ts";
import type { CacheEntry } from "./record.ts";

/**
 * Fields a `304` or `HEAD` response never changes in a stored response (RFC 9111 §3.2): the length
 * and coding of the stored content, digests of it, and `Content-Range` (which "MAY be ignored").
 */
const DESCRIBES_STORED_CONTENT: ReadonlySet<string> = new Set([
  "content-length",
  "content-encoding",
  "content-range",
  "content-md5",
  "content-digest",
]);

/** Representation metadata a `304` leaves out (RFC 9110 §15.4.5). */
const NOT_IN_304: ReadonlySet<string> = new Set([
  "content-length",
  "content-type",
  "content-encoding",
  "content-language",
  "content-range",
]);

/**
 * The validators to send when revalidating an entry (RFC 9111 §4.3.1): `If-None-Match` with the
 * entity tag, `If-Modified-Since` with `Last-Modified`.
 *
 * @param entry The stored entry.
 * @returns The conditional header fields (empty when the entry has no validator).
 *
 * @example
 * ```ts
 * import { conditionalHeaders } from "./validation.ts";
 * console.log(conditionalHeaders({ headers: [["etag", '"v1"']] })); // [["if-none-match", '"v1"']]
 * ```
 */
export function conditionalHeaders(entry: Pick<CacheEntry, "headers">): [string, string][] {
  const out: [string, string][] = [];
  const etag = headerValue(entry.headers, "etag");
  if (etag !== null) out.push(["if-none-match", etag]);
  const lastModified = headerValue(entry.headers, "last-modified");
  if (lastModified !== null) out.push(["if-modified-since", lastModified]);
  return out;
}

/**
 * Whether a 304 (or a HEAD response) describes the stored entry (RFC 9111 §4.3.4 and §4.3.5): "If
 * the new response contains a strong validator", it selects only a stored response with the same
 * one; a weak tag selects by weak comparison; `Last-Modified` must be equal; without validators
 * the one stored response the cache asked about is selected, though it has validators (§4.3.4 read
 * literally selects it only when it has none; browsers and the cache-tests suite accept the 304).
 *
 * @param entry The stored entry.
 * @param headers The headers of the new response.
 * @returns `true` when the entry may be updated from it.
 */
export function validatorsMatch(entry: Pick<CacheEntry, "headers">, headers: Headers): boolean {
  const newTag = headers.get("etag");
  const storedTag = headerValue(entry.headers, "etag");
  if (newTag !== null) {
    if (storedTag === null) return false;
    return isWeak(newTag) ? opaqueTag(storedTag) === opaqueTag(newTag) : storedTag.trim() === newTag.trim();
  }
  const newModified = headers.get("last-modified");
  if (newModified !== null) return headerValue(entry.headers, "last-modified") === newModified;
  return true;
}

/**
 * Whether a `HEAD` response describes the stored response (RFC 9111 §4.3.5), so that it may
 * freshen it: each validator it sends (`ETag`, `Last-Modified`) has the stored value, and the
 * `Content-Length` it sends, if any, is the stored one (when none was stored, the stored body's
 * length, unless that tells nothing: a HEAD response stored alone, a body fetch decoded), and the
 * stored status is `200`, as the HEAD's is. Otherwise the stored response is outdated.
 *
 * @param entry The stored entry.
 * @param headers The headers of the `HEAD` response.
 * @returns `true` when the entry may be freshened from it.
 */
export function headDescribes(
  entry: Pick<CacheEntry, "method" | "status" | "headers" | "body">,
  headers: Headers,
): boolean {
  // The HEAD response is a 200 (§4.3.5): it describes a stored 200, never a redirect or an error
  // that the resource answered before.
  if (entry.status !== 200) return false;
  for (const name of ["etag", "last-modified"]) {
    const value = headers.get(name);
    if (value !== null && value.trim() !== headerValue(entry.headers, name)?.trim()) return false;
  }
  const length = headers.get("content-length");
  if (length === null) return true;
  const stored = headerValue(entry.headers, "content-length");
  // A coded body stored without a Content-Length was decoded by fetch: its length is not the
  // coded length the HEAD response declares, and nothing stored tells that one. Nor does a HEAD
  // response stored alone, which has no body.
  if (
    stored === null &&
    (entry.method === "HEAD" || hasContentCoding(headerValue(entry.headers, "content-encoding")))
  ) return true;
  return length.trim() === (stored ?? String(entry.body.length)).trim();
}

/**
 * Updates stored headers from a 304 or HEAD response (RFC 9111 §3.2): "the cache MUST add each
 * header field in the provided response to the stored response, replacing field values that are
 * already present", except those describing the stored content, and the new response's `Connection`
 * and the fields it names (RFC 9110 §7.6.1: they are of that message alone, and the stored fields
 * of those names stay). The result is filtered as a response to be stored is (§3.1), by the
 * merged response's own directives: a field that the new response sends but that is not stored (a
 * `Set-Cookie` the session does not keep; a field that a qualified `no-cache`, or in a shared cache
 * `private`, names, whether the new or the stored `Cache-Control` names it) goes, as its stored
 * value is out of date. So does a stored `Age`, as
 * the age is now that of the new response. A new response without `Date` is dated when it was
 * received (RFC 9110 §6.6.1).
 *
 * @param stored The stored headers.
 * @param fresh The new response's headers.
 * @param options `shared`, `storeSetCookie` and `cacheControl`, as for storing.
 * @param responseTime When the new response arrived (epoch ms).
 * @returns The updated headers.
 *
 * @example
 * ```ts
 * import { updateHeaders } from "./validation.ts";
 * const fresh = new Headers({ "cache-control": "max-age=60", "content-length": "0" });
 * const stored: [string, string][] = [["cache-control", "max-age=1"], ["content-length", "5"]];
 * const options = { shared: false, storeSetCookie: false, cacheControl: true };
 * console.log(updateHeaders(stored, fresh, options, Date.UTC(2026, 11, 6)));
 * // [["content-length", "5"], ["cache-control", "max-age=60"], ["date", "Sun, 06 Dec 2026 00:00:00 GMT"]]
 * ```
 */
export function updateHeaders(
  stored: readonly [string, string][],
  fresh: Headers,
  options: { shared: boolean; storeSetCookie: boolean; cacheControl: boolean },
  responseTime: number,
): [string, string][] {
  // The new response is the one whose age counts (§4.2.3): a stored Age never outlives it.
  const replaced = new Set(["age"]);
  const incoming: [string, string][] = [];
  // The new response's `Connection` and the fields it names are of that message alone (RFC 9110
  // §7.6.1): they update nothing, and the stored fields of those names stay.
  const hopByHop = new Set(["connection", ...parseFieldNames(fresh.get("connection") ?? "")]);
  fresh.forEach((value, name) => {
    if (DESCRIBES_STORED_CONTENT.has(name) || hopByHop.has(name)) return;
    replaced.add(name);
    incoming.push([name, value]);
  });
  // RFC 9110 §6.6.1: a response without Date is dated when it was received. The stored Date
  // would otherwise make the new response look as old as the stored one.
  if (!replaced.has("date")) {
    replaced.add("date");
    incoming.push(["date", new Date(responseTime).toUTCString()]);
  }
  const merged = [...stored.filter(([name]) => !replaced.has(name)), ...incoming];
  // Filtered as a response is for storing, by the directives of the merged response: a field that
  // the stored response's qualified no-cache or private names stays out when a 304 sends it, also
  // when the 304 sends a Cache-Control of its own that does not name it (in a shared cache, a
  // `private="x-user"` field of one user's 304 would else be served to every user).
  if (!options.cacheControl) return storableHeaders(merged, {}, options);
  const cc = parseCacheControl(headerValue(merged, "cache-control"));
  if (!fresh.has("cache-control")) return storableHeaders(merged, cc, options);
  return storableHeaders(
    merged,
    namedByEither(cc, parseCacheControl(headerValue(stored, "cache-control"))),
    options,
  );
}

/**
 * The qualified `no-cache` and `private` of two sets of directives, as one: the fields that either
 * names, for {@linkcode storableHeaders} to keep out.
 */
function namedByEither(a: CacheControl, b: CacheControl): CacheControl {
  return {
    noCache: [...named(a.noCache), ...named(b.noCache)],
    private: [...named(a.private), ...named(b.private)],
  };
}

/** The fields a directive names: none when it is not qualified. */
function named(directive: true | readonly string[] | undefined): readonly string[] {
  return Array.isArray(directive) ? directive : [];
}

/**
 * Evaluates a client's own `If-None-Match` or `If-Modified-Since` against a stored response the
 * cache is about to serve (RFC 9111 §4.3.2, RFC 9110 §13.2.2): `If-None-Match` by weak comparison
 * (`*` matches any), else `If-Modified-Since` against `Last-Modified`, or `Date`, or the time the
 * response was received. Preconditions are ignored unless the stored status is 2xx (§13.2.1).
 *
 * @param entry The stored entry.
 * @param request The request headers.
 * @returns `true` when the answer is `304 Not Modified`.
 *
 * @example
 * ```ts
 * import { isNotModified } from "./validation.ts";
 * const entry = { status: 200, headers: [["etag", '"a"']] as [string, string][], responseTime: 0 };
 * console.log(isNotModified(entry, new Headers({ "if-none-match": 'W/"b", W/"a"' }))); // true
 * ```
 */
export function isNotModified(
  entry: Pick<CacheEntry, "status" | "headers" | "responseTime">,
  request: Headers,
): boolean {
  if (entry.status < 200 || entry.status > 299) return false;
  const ifNoneMatch = request.get("if-none-match");
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() === "*") return true;
    const etag = headerValue(entry.headers, "etag");
    return etag !== null && entityTags(ifNoneMatch).some((tag) => opaqueTag(tag) === opaqueTag(etag));
  }
  const since = parseHttpDate(request.get("if-modified-since"));
  if (since === undefined) return false;
  const modified = parseHttpDate(headerValue(entry.headers, "last-modified")) ??
    parseHttpDate(headerValue(entry.headers, "date")) ?? entry.responseTime;
  return modified <= since;
}

/**
 * Whether a stored response answers a client's own `If-None-Match` or `If-Modified-Since` as the
 * origin would: a 2xx that the precondition names ({@linkcode isNotModified}: a `304`), or any
 * response other than a 2xx or a `412`, for which the origin ignores the preconditions (RFC 9110
 * §13.2.1): a redirect or a `404` is served as it is.
 *
 * @param entry The stored entry.
 * @param request The request headers.
 * @returns `true` when the stored response answers the request, fresh.
 */
export function answersPrecondition(
  entry: Pick<CacheEntry, "status" | "headers" | "responseTime">,
  request: Headers,
): boolean {
  const evaluated = (entry.status >= 200 && entry.status <= 299) || entry.status === 412;
  return !evaluated || isNotModified(entry, request);
}

/**
 * Whether a stored response may answer a request's `Range` by the request's `If-Range` (RFC 9110
 * §13.1.5): there is none, or it is an entity tag that matches the stored one by strong comparison,
 * or a date equal to the stored `Last-Modified` when that is strong (the stored `Date` at least a
 * second later, §8.8.2.2). Otherwise "the server MUST ignore the Range header
 * field": the whole response is sent, as the client's partial copy is of another representation.
 *
 * @param entry The stored entry.
 * @param request The request headers.
 * @returns `true` when the `Range` may be answered.
 */
export function ifRangeHolds(entry: Pick<CacheEntry, "headers">, request: Headers): boolean {
  const condition = request.get("if-range");
  if (condition === null) return true;
  const value = condition.trim();
  if (value.startsWith('"') || value.startsWith("W/")) {
    const etag = headerValue(entry.headers, "etag")?.trim();
    return etag !== undefined && !isWeak(value) && !isWeak(etag) && etag === value;
  }
  const date = parseHttpDate(value);
  const lastModified = parseHttpDate(headerValue(entry.headers, "last-modified"));
  // A Last-Modified is a strong validator for a cache only when the stored Date is at least a
  // second later (§8.8.2.2): otherwise the representation may have changed twice in that second.
  const stored = parseHttpDate(headerValue(entry.headers, "date"));
  return date !== undefined && date === lastModified && stored !== undefined && stored - date >= 1000;
}

/**
 * The header fields of a `304` made from a stored response: its fields without representation
 * metadata (RFC 9110 §15.4.5).
 *
 * @param headers The headers the full response would carry.
 * @returns The headers for the `304`.
 */
export function notModifiedHeaders(headers: Headers): Headers {
  const out = new Headers();
  headers.forEach((value, name) => {
    if (!NOT_IN_304.has(name)) out.append(name, value);
  });
  return out;
}

/** The entity tags of an `If-None-Match` list; a comma inside a quoted tag does not split it. */
function entityTags(list: string): string[] {
  return list.match(/(?:W\/)?"[^"]*"|[^\s,]+/g) ?? [];
}

function isWeak(tag: string): boolean {
  return tag.trim().startsWith("W/");
}

/** An entity tag without its weakness indicator, for the weak comparison of RFC 9110 §8.8.3.2. */
function opaqueTag(tag: string): string {
  const trimmed = tag.trim();
  return trimmed.startsWith("W/") ? trimmed.slice(2) : trimmed;
}
