/**
 * The first half of a request's way through the cache: what it is (its key, its directives, a
 * label for reports), where its stored response is (under its key, a redirect alias or a Vary
 * variant), and how that response may answer it.
 *
 * @module
 */

import type { CacheBackend } from "../backends/base.ts";
import {
  ALIAS_PREFIX,
  cacheKey,
  createCacheKey,
  hasUserinfo,
  type KeyRequest,
  redactUrl,
  variantKey,
} from "./cache_keys.ts";
import type { ResolvedOptions } from "./options.ts";
import { mayServeOnError, requestDirectives, type Usability, usability } from "./policy.ts";
import type { CacheEntry } from "./record.ts";
import { CROSS_ORIGIN_DROPPED, redirectLocation } from "./redirects.ts";
import { nonStandardMembers, type ParsedRequest, signalOf } from "./request.ts";
import { unlessAborted } from "./abort_follow.ts";
import { joined } from "./bytes.ts";
import type { Flow, Hit } from "./serve.ts";
import type { Found } from "./store_plan.ts";
import { varyMatches, varyValues } from "./vary.ts";

/** A read of one record: `null` when the read failed (already reported). */
export type ReadRecord = (key: string) => Promise<Awaited<ReturnType<CacheBackend["read"]>> | null>;

/**
 * Turns a parsed fetch call into a flow: its key, directives and label. A request without a body
 * and without `keyFn` is prepared at once, not as a promise: a hit awaits one turn less. A caller
 * that aborts while `keyFn` computes a key is not kept waiting for it (a key that never comes, such
 * as a tenant's looked up in a stalled database, would hang its fetch).
 *
 * @param parsed The fetch call.
 * @param o The session's options.
 * @param maxBodySize The largest request body read for a key (bytes): the largest the session
 *   stores.
 * @returns The flow, or a promise of it when a body must be read or `keyFn` called.
 * @throws {Unprepared} When a body could not be read for the key (the request to send instead), or
 *   the caller aborted.
 */
export function prepareFlow(
  parsed: ParsedRequest,
  o: ResolvedOptions,
  maxBodySize = Infinity,
): Flow | Promise<Flow> {
  if (parsed.method !== "GET" && parsed.method !== "HEAD") return prepareWithBody(parsed, o, maxBodySize);
  const { url, headers, redirect } = parsed;
  const key = keyFor({ method: "GET", url, headers, redirect }, o);
  // A HEAD is answered from the GET's entry, else from its own (RFC 9110 §9.3.2).
  const headKey = parsed.method === "HEAD" && o.allowedMethods.has("HEAD")
    ? keyFor({ method: "HEAD", url, headers, redirect }, o)
    : undefined;
  if (typeof key === "string" && typeof headKey !== "object") return flowOf(parsed, key, o, headKey);
  const signal = signalOf(parsed);
  return unlessAborted(Promise.all([key, headKey]), signal).then(
    ([key, headKey]) => flowOf(parsed, key, o, headKey),
    (error) => {
      throw signal?.aborted ? new Unprepared(parsed, error, false) : error;
    },
  );
}

/**
 * Prepares a request that has a body: read from a clone for the key; a copy goes to the network,
 * so the caller's own `Request` stays unread (a `Request` built from another takes its body). A
 * body larger than `maxBodySize` is not read on: the request goes past the cache as it comes (an
 * upload of gigabytes would else be held in memory, twice, before any byte of it was sent), and
 * the caller's `Request` lets go of its copy, used up as fetch leaves it.
 */
async function prepareWithBody(
  parsed: ParsedRequest,
  o: ResolvedOptions,
  maxBodySize: number,
): Promise<Flow> {
  let built: Request;
  let clone: Request | undefined;
  try {
    clone = parsed.input instanceof Request ? parsed.input.clone() : undefined;
    built = new Request(clone ?? parsed.input, parsed.init);
  } catch (error) {
    // A request fetch refuses (a body already read, a stream without `duplex` on Node): the
    // caller's error, not the cache's; sent as it is, fetch throws it.
    throw new Unprepared(parsed, error, false);
  }
  // The flow's header fields are the built request's: they carry the Content-Type its body
  // implies (a form's, a Blob's), as a `Request` given as input does, so both ways to send one
  // body share a key; and a request sent with fields added (a validator, a reload's `Pragma`) is
  // sent with these, and must keep that Content-Type. What the built request does not hold of the
  // init goes to the wrapped fetch beside it. From here on the built request is what is sent, on a
  // failure too: it holds the init's body, which a stream gives once.
  const sent = { ...parsed, input: built, init: nonStandardMembers(parsed.init), headers: built.headers };
  const { method, url, redirect } = parsed;
  const signal = signalOf(parsed);
  // (An init's body, when it has one, is sent in place of the `Request`'s.)
  const given = clone !== undefined && parsed.init?.body == null
    ? { caller: parsed.input as Request, clone }
    : undefined;
  let body: Uint8Array | undefined;
  try {
    body = await bodyOf(built, given, signal, maxBodySize);
  } catch (error) {
    // The caller's own body failed (or the caller gave up): no failure of the cache.
    throw new Unprepared(sent, error, false);
  }
  if (body === undefined) throw new Unprepared(sent, undefined, false);
  try {
    const key = keyFor({ method, url, headers: built.headers, body, redirect }, o);
    return flowOf(sent, typeof key === "string" ? key : await unlessAborted(key, signal), o);
  } catch (error) {
    // (A caller that gives up while `keyFn` computes the key is no failure of the cache.)
    throw new Unprepared(sent, error, signal?.aborted !== true);
  }
}

/**
 * The caller's `Request` whose body is sent, and the clone of it that the request sent was built
 * from. The caller's keeps a copy of the body that no one reads; Bun's `Request` built from the
 * clone reads the clone's stream without owning it (cancelling it cancels nothing).
 */
interface GivenBody {
  caller: Request;
  clone: Request;
}

/**
 * Reads a copy of a request's body for its key, up to `limit` bytes. A caller that aborts, before
 * the call or while its body is still coming (a stream), is not kept waiting for it, and the body
 * is cancelled, as fetch cancels it: nothing will read it (read on, a stream without end would be
 * buffered for the request kept).
 *
 * @param request The request kept, to send.
 * @param given The caller's `Request` whose body is sent: cancelled with it, and past `limit` the
 *   caller's copy, which grows with the body while the caller holds it.
 * @param signal The caller's signal.
 * @param limit The most bytes read: past it, the copy is let go of (the request's body goes on).
 * @returns The body's bytes, or `undefined` when it is larger than `limit`.
 */
async function bodyOf(
  request: Request,
  given: GivenBody | undefined,
  signal: AbortSignal | null | undefined,
  limit: number,
): Promise<Uint8Array | undefined> {
  const cancel = (reason?: unknown) => {
    for (const held of [request, given?.caller, given?.clone]) held?.body?.cancel(reason).catch(() => {});
  };
  if (signal?.aborted) {
    cancel(signal.reason);
    signal.throwIfAborted();
  }
  // (Its copy's body is looked at, not its own: on Deno that would turn a body of known length into a
  // stream, sent without Content-Length. A method that may have a body, sent without one: nothing to read.)
  const copy = request.clone();
  if (copy.body === null) return new Uint8Array(0);
  const reader = copy.body.getReader();
  const onAbort = () => {
    reader.cancel(signal!.reason).catch(() => {});
    cancel(signal!.reason);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await unlessAborted(reader.read(), signal);
      if (done) return joined(chunks);
      size += value.byteLength;
      if (size > limit) {
        reader.cancel().catch(() => {});
        given?.caller.body?.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * A request with a body that could not be prepared: the request to send in its place (its body,
 * a stream given once, is no longer in the caller's init), and why.
 */
export class Unprepared {
  /** The request to send. */
  readonly request: ParsedRequest;
  /** Why it could not be prepared: `undefined` for a body larger than the cache reads for a key. */
  readonly error: unknown;
  /** Whether the cache failed (`keyFn`), not the caller's body. */
  readonly cacheFailure: boolean;

  /**
   * @param request The request to send.
   * @param error Why it could not be prepared.
   * @param cacheFailure Whether the cache failed (`keyFn`), not the caller's body.
   */
  constructor(request: ParsedRequest, error: unknown, cacheFailure: boolean) {
    this.request = request;
    this.error = error;
    this.cacheFailure = cacheFailure;
  }
}

function flowOf(request: ParsedRequest, key: string, o: ResolvedOptions, headKey?: string): Flow {
  const { url } = request;
  const policy = {
    method: request.method,
    headers: request.headers,
    // Only the shared-cache rule for credentials reads it: a private cache's requests skip it.
    userinfo: o.shared && hasUserinfo(url),
    cacheControl: requestDirectives(request.headers),
  };
  const flow: Flow = {
    ...request,
    key,
    policy,
    label: `${request.method} ${redactUrl(request.url.href, o.ignoredParameters)}`,
  };
  if (headKey !== undefined) flow.headKey = headKey;
  return flow;
}

/**
 * The key of a request: the default one, computed at once, or the user's `keyFn`'s, checked.
 *
 * @param request The request's method, URL, headers and body.
 * @param o The session's options.
 * @returns The key, or a promise of it when `keyFn` gives it.
 * @throws {TypeError} When `keyFn` gives something other than a key ({@linkcode checkedKey}).
 */
export function keyFor(request: KeyRequest, o: ResolvedOptions): string | Promise<string> {
  if (o.keyFn === undefined) return cacheKey(request, o);
  // A URL of its own: the request's is what is sent, stored and invalidated, which a keyFn that
  // edits the one it is given (to drop a parameter from its key) must not change.
  const given = { ...request, url: new URL(request.url.href) };
  return Promise.resolve(o.keyFn(given, () => createCacheKey(given, o))).then(checkedKey);
}

/** A key `keyFn` may give is printable ASCII, not empty, and does not start with `ALIAS_PREFIX`. */
const PRINTABLE = /^[\x20-\x7e]+$/;

/**
 * How every Vary variant's key ends ({@linkcode variantKey}): a dot and a 22-character digest. A
 * key of `keyFn`'s that ends so could be another request's variant key: `<key>:acme.<digest>` is
 * the variant of `<key>:acme` that the digest selects, and a tenant named `acme.<digest>` would
 * read it, and write its own responses there.
 */
const VARIANT_SUFFIX = /\.[A-Za-z0-9_-]{22}$/;

/**
 * Checks a key from `keyFn`: any other key could pass for a redirect alias or for another key's
 * Vary variant, or fail in one backend and not another.
 *
 * @param key What `keyFn` returned.
 * @returns The key.
 * @throws {TypeError} When it is not a valid key.
 */
function checkedKey(key: unknown): string {
  if (
    typeof key === "string" && PRINTABLE.test(key) && !key.startsWith(ALIAS_PREFIX) &&
    !VARIANT_SUFFIX.test(key)
  ) {
    return key;
  }
  const shown = typeof key === "string" ? JSON.stringify(key) : String(key);
  throw new TypeError(
    `keyFn must return a non-empty string of printable ASCII that does not start with "${ALIAS_PREFIX}" ` +
      `nor end with "." and 22 letters, digits, "-" or "_" (the forms of aliases and Vary variants): received ${shown}`,
  );
}

/**
 * How a stored entry may answer this request, by the request's mode and the session's rules.
 *
 * @param flow The request.
 * @param entry The stored entry.
 * @param o The session's options.
 * @param now The time to judge it at (epoch ms): by default now.
 * @returns The usability.
 */
export function usabilityFor(
  flow: Flow,
  entry: Omit<CacheEntry, "body">,
  o: ResolvedOptions,
  now: number = o.now(),
): Usability {
  if (flow.mode === "force-cache" || flow.mode === "only-if-cached") return "fresh";
  if (flow.mode === "no-cache") return "revalidate";
  return usability(entry, flow.policy, now, o);
}

/**
 * Whether a request demands validation, whatever is stored: the `no-cache` mode, or (with
 * `cacheControl`) its own `no-cache` directive or `Pragma: no-cache` (RFC 9111 §5.2.1.4). No
 * response answers it unvalidated, one that an identical request is fetching neither: that was
 * asked for before this request came.
 *
 * @param flow The request.
 * @param o The session's options.
 * @returns `true` when only the origin can answer it.
 */
export function demandsValidation(flow: Flow, o: ResolvedOptions): boolean {
  return flow.mode === "no-cache" || (o.cacheControl && flow.policy.cacheControl.noCache !== undefined);
}

/**
 * Whether a stored entry may answer the request when the origin failed: never in the `no-cache`
 * mode, which demands validation (as the Fetch standard's HTTP cache does, the request fails);
 * else as {@linkcode mayServeOnError} says, or when it would have answered the request without
 * asking the origin but for the request's own `If-None-Match` / `If-Modified-Since`, which named
 * another copy: the origin was asked only about the caller's copy, and the stored response, which
 * the condition does not name, is a right answer to it (RFC 9110 §13.1.1, RFC 9111 §4.3.2).
 *
 * @param flow The request.
 * @param entry The stored entry.
 * @param now Current time (epoch ms).
 * @param o The session's options.
 * @returns `true` when the entry may be served instead of the failure.
 */
export function mayServeOnErrorFor(flow: Flow, entry: CacheEntry, now: number, o: ResolvedOptions): boolean {
  if (flow.mode === "no-cache") return false;
  return mayServeOnError(entry, flow.policy, now, o) ||
    (flow.conditional && usabilityFor(flow, entry, o, now) !== "revalidate");
}

/**
 * Finds the stored response of a request: under its key, through a redirect alias, or as the
 * Vary variant its headers select; for a `HEAD` that no stored `GET` response answers, its own
 * stored response (under `headKey`).
 *
 * @param flow The request.
 * @param o The session's options.
 * @param read Reads one record.
 * @returns What was found; `entry` is absent when no stored variant matches.
 */
export function lookup(flow: Flow, o: ResolvedOptions, read: ReadRecord): Promise<Found | undefined> {
  const found = lookupUnder(flow.key, flow, o, read);
  const { headKey } = flow;
  // (Not async: a GET awaits no turn more than its one look-up.)
  if (headKey === undefined) return found;
  return found.then((found) => found?.entry !== undefined ? found : lookupUnder(headKey, flow, o, read));
}

async function lookupUnder(
  slot: string,
  flow: Flow,
  o: ResolvedOptions,
  read: ReadRecord,
): Promise<Found | undefined> {
  let key = slot;
  let record = await read(key);
  // A failed read is a miss; more reads would only add the failing backend's delay again.
  if (record === null) return undefined;
  let viaAlias = false;
  if (record === undefined) {
    const alias = await read(ALIAS_PREFIX + key);
    if (!alias || !("targets" in alias)) return undefined;
    key = alias.targets[0]!; // the URL whose redirect led here last
    record = await read(key);
    viaAlias = true;
    // That slot may hold another answer since (its URL now leads elsewhere), or a POST's.
    if (record && "entry" in record && !await ledHere(flow, record.entry, slot, o)) return undefined;
  }
  if (!record || !("entry" in record)) return undefined;
  const primary = record.entry;
  // (Through an alias, the request's own primary slot is empty: what it leads to is another's.)
  const own = viaAlias ? {} : { primary };
  let found: Hit;
  if (varyMatches(primary, flow.headers)) {
    found = { key, entry: primary, viaAlias, ...own, owned: record.owned };
  } else {
    const other = await variantBeside(flow, key, primary, o, read);
    if (other === undefined) return { key, viaAlias, ...own };
    // Through an alias, the variant too must be what a redirect led here with: one stored for the
    // aliased URL's own response (before its redirect) is that URL's, not this one's.
    if (viaAlias && !await ledHere(flow, other.entry, slot, o)) return undefined;
    found = { ...other, viaAlias, ...own, beside: key };
  }
  // A keyFn that leaves the method out gives a HEAD or a POST the key of the GET: what they stored
  // there answers no GET (a HEAD's response has no body), as the GET's answers no POST.
  if (!answersMethod(found.entry, flow.method)) return { key, viaAlias, ...own };
  // What a redirect led to is served only while its alias holds: the alias is read for it alone.
  if (!viaAlias && found.entry.redirected && !await aliasHolds(flow, found.entry, key, o, read)) {
    return undefined;
  }
  return found;
}

/**
 * Whether a stored entry answers a request of this method: one of the same method, or a `GET`'s
 * answering a `HEAD` (RFC 9110 §9.3.2). Default keys hold the method; a `keyFn`'s may not.
 *
 * @param entry The stored entry.
 * @param method The request's method.
 * @returns Whether the entry may answer the request.
 */
export function answersMethod(entry: Pick<CacheEntry, "method">, method: string): boolean {
  return entry.method === method || (method === "HEAD" && entry.method === "GET");
}

/**
 * RFC 9111 §4.1: the variant of a resource that a request selects, stored beside its primary slot
 * under the primary's Vary names (a response that names others takes the primary slot), of the
 * primary's generation (one stored under earlier names, or before the slot was emptied, is not).
 *
 * @param flow The request.
 * @param key The primary slot's key.
 * @param primary What the primary slot holds (a variant the request does not select).
 * @param o The session's options.
 * @param read Reads one record.
 * @returns The variant's key and entry, or `undefined` when none that matches is stored.
 */
export async function variantBeside(
  flow: Flow,
  key: string,
  primary: CacheEntry,
  o: ResolvedOptions,
  read: ReadRecord,
): Promise<{ key: string; entry: CacheEntry; owned?: boolean | undefined } | undefined> {
  const variant = variantKey(key, varyValues(primary.vary.map(([name]) => name), flow.headers, o));
  const other = await read(variant);
  if (
    !other || !("entry" in other) || other.entry.varyGeneration !== primary.varyGeneration ||
    !varyMatches(other.entry, flow.headers)
  ) {
    return undefined;
  }
  return { key: variant, entry: other.entry, owned: other.owned };
}

/**
 * The key of the alias that leads from where a redirect led to the slot of the URL asked for:
 * the key this request would have had for that URL (its credentials and matched headers too).
 *
 * @param flow The request that was redirected.
 * @param url Where the redirect led.
 * @param o The session's options.
 * @returns The key, without the alias prefix.
 * @throws {TypeError} When `keyFn` gives something other than a key.
 */
export function aliasKeyOf(flow: Flow, url: URL, o: ResolvedOptions): string | Promise<string> {
  // Where the redirects ended on another origin, fetch sent the credentials (and a `Host` the
  // caller set) to none of it: the response is what that origin answers a request without them.
  let headers = flow.headers;
  if (url.origin !== flow.url.origin && CROSS_ORIGIN_DROPPED.some((name) => headers.has(name))) {
    headers = new Headers(headers);
    for (const name of CROSS_ORIGIN_DROPPED) headers.delete(name);
  }
  // On the same origin, the URL's userinfo is a credential fetch may have sent there too (to a
  // relative `Location`), though no stored URL holds it: it stays in the key, as `Authorization`
  // does. (A response that fetch reached with other userinfo is not stored: `planEntry`.)
  if (hasUserinfo(flow.url) && url.origin === flow.url.origin) url = withUserinfoOf(flow.url, url);
  return keyFor({ method: "GET", url, headers, redirect: flow.redirect }, o);
}

/** A copy of `url` with the userinfo of `from`. */
function withUserinfoOf(from: URL, url: URL): URL {
  const copy = new URL(url.href);
  copy.username = from.username;
  copy.password = from.password;
  return copy;
}

/**
 * Whether a response is a redirect to a URL that this request's key stands for too: one that
 * differs from it only in `ignoredParameters` or in the order of its query (an origin that drops
 * `utm_source`, or sorts its parameters), or that `keyFn` keys alike. Stored, it would answer the
 * very request it leads to, which would follow it again, until fetch's 20 redirects fail it.
 *
 * @param flow The request (a `GET` or `HEAD`; any other is never followed to its own key).
 * @param response Its response.
 * @param o The session's options.
 * @returns Whether the response leads back to the request's key.
 */
export function redirectsToOwnKey(
  flow: Flow,
  response: Response,
  o: ResolvedOptions,
): boolean | Promise<boolean> {
  if (flow.method !== "GET" && flow.method !== "HEAD") return false;
  const target = redirectLocation(flow.url, response);
  if (target === undefined || target.origin !== flow.url.origin) return false;
  try {
    const key = keyFor({ method: "GET", url: target, headers: flow.headers, redirect: flow.redirect }, o);
    return typeof key === "string" ? key === flow.key : key.then((key) => key === flow.key, () => false);
  } catch {
    return false;
  }
}

/**
 * Whether an entry found through the alias of the URL asked for answers it: a `GET` response that a
 * redirect led here with (a request for this URL would have the key `slot`).
 *
 * @param flow The request.
 * @param entry The entry in the slot the alias points to.
 * @param slot The key the request was looked up under.
 * @param o The session's options.
 * @returns Whether the entry may answer the request.
 */
async function ledHere(flow: Flow, entry: CacheEntry, slot: string, o: ResolvedOptions): Promise<boolean> {
  return entry.method === "GET" && await aliasKeyFor(flow, entry, o) === slot;
}

/**
 * The key of the alias from where an entry's redirect led ({@linkcode aliasKeyOf}), or
 * `undefined` when `keyFn` refuses that URL: no alias was written for it either.
 */
async function aliasKeyFor(flow: Flow, entry: CacheEntry, o: ResolvedOptions): Promise<string | undefined> {
  try {
    return await aliasKeyOf(flow, new URL(entry.url), o);
  } catch {
    return undefined;
  }
}

/**
 * Whether what a redirect led to, found under the URL asked for, can still be invalidated: an
 * unsafe request to where the redirect led finds it only through the alias of that URL (RFC 9111
 * §4.4). Once the alias is gone (a bounded store evicted it), the entry may have missed an
 * invalidation: it is not served, and the next response stores both again.
 *
 * @param flow The request.
 * @param entry The entry, stored for a response that was redirected.
 * @param key The request's own key (the slot the alias points to).
 * @param o The session's options.
 * @param read Reads one record.
 * @returns Whether the entry may be served.
 */
async function aliasHolds(
  flow: Flow,
  entry: CacheEntry,
  key: string,
  o: ResolvedOptions,
  read: ReadRecord,
): Promise<boolean> {
  const aliasKey = await aliasKeyFor(flow, entry, o);
  if (aliasKey === undefined) return false;
  if (aliasKey === key) return true;
  const alias = await read(ALIAS_PREFIX + aliasKey);
  return alias !== null && alias !== undefined && "targets" in alias && alias.targets.includes(key);
}
