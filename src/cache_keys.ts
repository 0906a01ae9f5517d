/**
 * Request → cache key.
 *
 * A key is a SHA-256 digest of a canonical form of the request (computed synchronously by
 * `sha256.ts`, bit for bit what WebCrypto computes). It has two parts so
 * that every entry of one URL shares a prefix, which makes invalidating a URL a range delete:
 *
 * ```
 * <digest of method + normalised URL>[+<digest of body, matched headers, credentials, shared, redirect mode>][.<Vary variant>]
 * ```
 *
 * Each digest is 128 bits of SHA-256 in base64url (22 characters). Credentials (`Authorization`,
 * `Cookie`, `Proxy-Authorization`, and the URL's userinfo, which fetch sends as `Authorization`)
 * are part of the key, so two users never share an entry, but only as a digest: no raw secret
 * reaches a key. `ignoredParameters` are left out of the key. A
 * shared cache's keys are marked as such, so a shared and a private cache on one store never share
 * an entry.
 *
 * @module
 */

import { joined } from "./bytes.ts";
import { mediaType } from "./cache_control.ts";
import { normalizeMethod } from "./request.ts";
import { digestBytes, digestText } from "./sha256.ts";

/** Keys of redirect aliases start with this; entry keys never do. */
export const ALIAS_PREFIX = "~";

/** Request headers that carry credentials: requests that differ in them never share an entry. */
export const CREDENTIAL_HEADERS: readonly string[] = ["authorization", "cookie", "proxy-authorization"];

/** What a cache key is computed from. */
export interface KeyRequest {
  /** Normalised method (`GET`, `POST`, …). */
  method: string;
  /** The request URL. */
  url: URL;
  /** The request headers, to read (a request without any shares one empty, immutable `Headers`). */
  headers: Headers;
  /** The request body, for methods that have one. */
  body?: Uint8Array | undefined;
  /**
   * The request's redirect mode. A mode other than `"follow"` (the default) is part of the key:
   * `"manual"` is answered with the redirect itself, which `"follow"` never is.
   */
  redirect?: RequestRedirect | undefined;
}

/** Options of the default key function. */
export interface KeyOptions {
  /**
   * Query parameters, JSON and form fields and headers left out of the key. Header names match
   * in any case; the others only as written.
   */
  ignoredParameters: ReadonlySet<string>;
  /** Request headers whose values are part of the key (lower-case). */
  matchHeaders: readonly string[];
  /**
   * Whether the key is a shared cache's (the session's `shared`). RFC 9111 gives a shared and a
   * private cache different rules for what they store and for how long it is fresh, so a shared
   * session and a private one on one store never share an entry: one of them would serve what
   * its rules forbid (a `private` response to anyone, an `s-maxage` lifetime in a private cache).
   */
  shared?: boolean;
}

const encoder = new TextEncoder();

/**
 * Computes the default cache key of a request.
 *
 * @param request The request's method, URL, headers and body.
 * @param options Ignored parameters and matched headers, as the session was given them (header
 *   names in any case and order).
 * @returns The key.
 *
 * @example Two spellings of one URL share a key
 * ```ts
 * import { createCacheKey } from "./cache_keys.ts";
 * const options = { ignoredParameters: new Set(["api_key"]), matchHeaders: [] };
 * const key = (url: string) => createCacheKey({ method: "GET", url: new URL(url), headers: new Headers() }, options);
 * console.log(await key("HTTPS://Example.com:443/a?b=2&a=1#top") === await key("https://example.com/a?a=1&b=2&api_key=x")); // true
 * ```
 */
export function createCacheKey(request: KeyRequest, options: KeyOptions): Promise<string> {
  try {
    // As a session spells them: a method as fetch normalises it, header names in any case and order.
    const method = normalizeMethod(request.method);
    const names = matchedHeaderNames(options.matchHeaders);
    const same = names.length === options.matchHeaders.length &&
      names.every((name, i) => name === options.matchHeaders[i]);
    return Promise.resolve(cacheKey(
      method === request.method ? request : { ...request, method },
      same ? options : { ...options, matchHeaders: names },
    ));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * `matchHeaders` as keys use them: lower-cased, sorted and without repeats, so that the same names
 * in another order or case give the same keys.
 *
 * @param names Header names.
 * @returns The names.
 */
export function matchedHeaderNames(names: readonly string[]): string[] {
  return [...new Set(names.map((name) => name.toLowerCase()))].sort();
}

/**
 * Computes the default cache key of a request, synchronously: what {@linkcode createCacheKey}
 * resolves to.
 *
 * @param request The request's method, URL, headers and body.
 * @param options Ignored parameters and matched headers.
 * @returns The key.
 */
export function cacheKey(request: KeyRequest, options: KeyOptions): string {
  const prefix = urlKeyPrefix(request.method, request.url, options.ignoredParameters);
  let parts = options.shared === true ? SHARED_MARK : undefined;
  if (request.redirect !== undefined && request.redirect !== "follow") {
    parts = `${parts ?? ""}@redirect ${request.redirect}\n`;
  }
  for (const name of options.matchHeaders) {
    const value = request.headers.get(name);
    if (value === null) continue;
    const ignored = ignoredHeaderNames(options.ignoredParameters).has(name);
    parts = `${parts ?? ""}${name}:${ignored ? "" : value}\n`;
  }
  for (const name of CREDENTIAL_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) parts = `${parts ?? ""}${name}:${value}\n`;
  }
  // A `Host` the caller set that names another host than the URL: Bun sends it, and an origin
  // serves the virtual host it names (RFC 9110 §7.2: the target URI's authority). Deno and Node
  // send the URL's own; requests that differ in it never share an entry all the same.
  const host = request.headers.get("host");
  if (host !== null && host.toLowerCase() !== request.url.host) parts = `${parts ?? ""}@host ${host}\n`;
  // The URL's userinfo, which fetch sends as `Authorization: Basic` (left out of the URL's part).
  if (hasUserinfo(request.url)) {
    parts = `${parts ?? ""}@userinfo ${request.url.username}:${request.url.password}\n`;
  }
  if (request.body === undefined || request.body.length === 0) {
    if (parts === undefined) return prefix;
    if (parts === SHARED_MARK) return `${prefix}+${SHARED_ONLY}`;
    // The digest of the text alone, with no array allocated: the key of a request with a bearer
    // token took 4.2 µs on Deno, and takes 1.3.
    return `${prefix}+${digestText(`${parts.slice(0, -1)}\n\n`)}`;
  }
  const contentType = request.headers.get("content-type");
  const type = mediaType(contentType);
  const body = normalizeBody(request.body, type, contentType, options.ignoredParameters);
  // The body's media type is in the key: an origin reads the same bytes as XML and as text
  // otherwise. And a body keyed in a canonical form (JSON, a form, a multipart form's framing) is
  // marked as such: a raw body of those very bytes never shares its key (one that is not what its
  // type says, `{"a":1,"a":2}` as JSON, is keyed raw).
  if (type !== "") parts = `${parts ?? ""}@type ${type}\n`;
  // A multipart body keyed raw keeps its boundary: an origin finds other parts in the same bytes
  // by another one (a lenient parser reads a body that is not laid out as strictly as ours wants).
  if (type === MULTIPART && body.mark === undefined) parts = `${parts}@content-type ${contentType}\n`;
  if (body.mark !== undefined) parts = `${parts ?? ""}${body.mark}`;
  const head = encoder.encode(`${(parts ?? "").slice(0, -1)}\n\n`);
  const canonical = new Uint8Array(head.length + body.bytes.length);
  canonical.set(head);
  canonical.set(body.bytes, head.length);
  return `${prefix}+${digestBytes(canonical)}`;
}

/**
 * The line that marks a shared cache's key (no header name holds `@`: it is no header's line, nor
 * is the redirect mode's).
 */
const SHARED_MARK = "@shared\n";
/** The media type of a multipart form, keyed without its boundary when laid out as it says. */
const MULTIPART = "multipart/form-data";
/** The line that marks a body keyed as a multipart form, in its framing ({@linkcode canonicalMultipart}). */
const MULTIPART_MARK = "@multipart\n";
/** The line that marks a body keyed as canonical JSON ({@linkcode canonicalJson}). */
const JSON_MARK = "@json\n";
/** The line that marks a body keyed as a form, its parameters sorted. */
const FORM_MARK = "@form\n";
/** The second part of a shared cache's key for a request with nothing else in it (mark, no body). */
const SHARED_ONLY = digestText(`${SHARED_MARK.slice(0, -1)}\n\n`);

/**
 * The part of a key that depends only on method and URL: every key of that URL starts with it.
 *
 * @param method Request method.
 * @param url Request URL.
 * @param ignoredParameters Query parameters to leave out.
 * @returns The key prefix.
 */
export function urlKeyPrefix(
  method: string,
  url: URL,
  ignoredParameters: ReadonlySet<string> = NONE,
): string {
  // Kept by the URL as given: a URL used again skips normalising its query as well as SHA-256.
  let recent = RECENT.get(ignoredParameters);
  if (recent === undefined) RECENT.set(ignoredParameters, recent = new Map());
  // A URL is never a method and a space, so a GET is kept by its URL alone: no new string to
  // build and hash on every look-up.
  const given = method === "GET" ? url.href : `${method} ${url.href}`;
  let digest = recent.get(given);
  if (digest !== undefined) return digest;
  digest = digestText(`${method} ${normalizeUrl(url, ignoredParameters)}`);
  // One digest in four is kept: a URL used again and again is in after a few uses, and a stream
  // of URLs seldom seen (a large store visited at random) barely churns the map.
  if ((++computed & 3) === 0) {
    if (recent.size >= RECENT_KEPT) recent.clear();
    recent.set(given, digest);
  }
  return digest;
}

/**
 * Digests of URLs keyed lately, by method and URL as given, per set of ignored parameters (one a
 * session): a hit on a URL seen lately skips normalising its query (about 1 µs on Deno) and
 * SHA-256 (about 1 µs). Bounded: cleared when full.
 */
const RECENT = new WeakMap<ReadonlySet<string>, Map<string, string>>();
const RECENT_KEPT = 1024;
let computed = 0;

/**
 * `ignoredParameters` lower-cased, to match header names with: unlike query parameters and body
 * fields, header names are case-insensitive (RFC 9110 §5.1), so `X-Api-Key` names the same header
 * as `x-api-key`. Lower-cased once per set (one a session), not per request.
 *
 * @param ignoredParameters The names as configured.
 * @returns The same names, lower-case.
 */
export function ignoredHeaderNames(ignoredParameters: ReadonlySet<string>): ReadonlySet<string> {
  let lower = IGNORED_HEADERS.get(ignoredParameters);
  if (lower === undefined) {
    lower = new Set([...ignoredParameters].map((name) => name.toLowerCase()));
    IGNORED_HEADERS.set(ignoredParameters, lower);
  }
  return lower;
}

/** The lower-cased copy of each set of ignored parameters ({@linkcode ignoredHeaderNames}). */
const IGNORED_HEADERS = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();

/**
 * The key of one Vary variant of an entry. The order of the names does not count: a `Vary` list
 * means the same in any order, and a lookup builds the key from the stored response's names.
 *
 * @param key The request's cache key.
 * @param vary The request header values nominated by the response's `Vary` (each name once).
 * @returns The variant's key.
 */
export function variantKey(key: string, vary: readonly [string, string | null][]): string {
  const lines = vary.map(([name, value]) => `${name}:${value === null ? "\0" : value}`);
  // No name holds ":", and each is there once: sorted lines are one form for the set of pairs.
  return `${key}.${digestText(lines.sort().join("\n"))}`;
}

/**
 * Normalises a URL for keys: scheme and host lower-cased and default port dropped (by the URL
 * parser), fragment dropped, query parameters sorted by name (a name's values keep their order)
 * and ignored parameters removed. Each parameter stays as written, byte for byte: decoding it and
 * encoding it again would turn URLs an origin tells apart into one (`%E8` and `%E9` both become
 * U+FFFD, `+` and `%20` both `+`, `flag` and `flag=` both `flag=`). Userinfo is dropped: it is a
 * credential, which a key holds in its second part ({@linkcode cacheKey}), as it holds
 * `Authorization`; so a URL is found by deletes and invalidations as `urls()` lists it. A URL
 * that is not HTTP(S) (`data:`, `blob:`, `file:`) is kept whole.
 *
 * @param url The URL.
 * @param ignoredParameters Query parameters to remove.
 * @returns The normalised URL.
 */
export function normalizeUrl(url: URL, ignoredParameters: ReadonlySet<string> = NONE): string {
  const { search } = url;
  // A URL that is not HTTP(S) is keyed whole: what fetch answers it with may hold its query (a
  // `data:` URL's text), and even its fragment (Bun's).
  if (!isHttp(url)) return url.href;
  const bare = withoutFragment(hrefWithoutUserinfo(url));
  if (search === "") return bare;
  const path = bare.slice(0, -search.length);
  const parameters = keptParameters(search.slice(1), ignoredParameters).sort(byName);
  // Only ignored parameters: the URL without them has no query.
  return parameters.length === 0 ? path : `${path}?${writtenQuery(parameters)}`;
}

/** Whether a URL is HTTP(S): what the query normalisation of keys (and RFC 9111) is for. */
function isHttp(url: URL): boolean {
  return url.protocol === "http:" || url.protocol === "https:";
}

/**
 * A URL without its fragment, as fetch reports a response's URL: the first "#" starts it (the
 * parser escapes any before it), even an empty one, which `URL.hash` shows as `""`.
 *
 * @param href A serialised URL.
 * @returns `href` up to its first "#".
 */
export function withoutFragment(href: string): string {
  const fragment = href.indexOf("#");
  return fragment === -1 ? href : href.slice(0, fragment);
}

/**
 * Whether a URL has userinfo, which fetch sends as `Authorization: Basic`: every such URL holds an
 * "@", so most need no more than a search.
 *
 * @param url The URL.
 * @returns `true` when it has a username or a password.
 */
export function hasUserinfo(url: URL): boolean {
  return url.href.includes("@") && (url.username !== "" || url.password !== "");
}

/**
 * A URL's `href` without its userinfo (a credential): as stored, and as messages name it.
 *
 * @param url The URL.
 * @returns Its `href`, userinfo left out.
 */
export function hrefWithoutUserinfo(url: URL): string {
  return hasUserinfo(url) ? withoutUserinfo(new URL(url.href)).href : url.href;
}

/** Clears a URL's userinfo (a credential) and returns the URL. */
export function withoutUserinfo(url: URL): URL {
  url.username = "";
  url.password = "";
  return url;
}

/**
 * Removes the userinfo (username and password) and the ignored parameters from a URL that is about
 * to be stored or shown, so no secret reaches the backend or a report. Unlike
 * {@linkcode normalizeUrl} it keeps the order of the query, and the fragment, without the ignored
 * parameters that it names too (where an implicit grant's token goes: `#access_token=…`, or
 * `#/callback?access_token=…`).
 *
 * @param href The URL.
 * @param ignoredParameters Parameters to remove.
 * @returns The redacted URL.
 */
export function redactUrl(href: string, ignoredParameters: ReadonlySet<string>): string {
  const queried = ignoredParameters.size > 0 && (href.includes("?") || href.includes("#"));
  // Every URL with userinfo holds an "@": the common case (neither) is a few string searches, no parse.
  if (!queried && !href.includes("@")) return href;
  // A URL that is not HTTP(S) is stored as it is keyed: whole ({@linkcode normalizeUrl}).
  if (!href.startsWith("http")) {
    const given = new URL(href);
    if (!isHttp(given)) return given.href;
  }
  // Userinfo is a credential, kept in keys only as a digest.
  const url = withoutUserinfo(new URL(href));
  const parsed = url.href;
  if (!queried) return parsed;
  // The first "#" starts the fragment, and the first "?" before it the query: the parser escapes
  // any before them.
  const hash = parsed.indexOf("#");
  const head = hash === -1 ? parsed : parsed.slice(0, hash);
  const fragment = hash === -1 ? "" : `#${redactedFragment(parsed.slice(hash + 1), ignoredParameters)}`;
  if (url.search === "") return head + fragment;
  const start = head.indexOf("?");
  const parameters = keptParameters(head.slice(start + 1), ignoredParameters);
  const query = parameters.length === 0 ? "" : `?${writtenQuery(parameters)}`;
  return `${head.slice(0, start)}${query}${fragment}`;
}

/**
 * A fragment without the ignored parameters it names, read as a `Location` is read for them
 * (`namesIgnored` in `store_plan.ts`): its text, and each part after a `?` or a `#` in it,
 * as `&`-separated parameters. A part left empty goes with the separator before it.
 */
function redactedFragment(fragment: string, ignored: ReadonlySet<string>): string {
  const pieces = fragment.split(/([?#])/);
  let out = writtenQuery(keptParameters(pieces[0]!, ignored));
  for (let i = 2; i < pieces.length; i += 2) {
    const kept = writtenQuery(keptParameters(pieces[i]!, ignored));
    if (kept !== "" || pieces[i] === "") out += pieces[i - 1]! + kept;
  }
  return out;
}

const NONE: ReadonlySet<string> = new Set();

/** A parameter of a query or form body: its decoded name, and the parameter as written. */
type Parameter = readonly [name: string, written: string];

/**
 * The parameters of a query or form body (`&`-separated, empty ones included) whose names are not
 * ignored, in their order.
 */
function keptParameters(text: string, ignored: ReadonlySet<string>): Parameter[] {
  const kept: Parameter[] = [];
  for (const written of text.split("&")) {
    const name = parameterName(written);
    if (!ignored.has(name)) kept.push([name, written]);
  }
  return kept;
}

/**
 * A parameter's name as `URLSearchParams` decodes it, to match `ignoredParameters` and to sort
 * by: names an origin reads as one keep their values' order. Only the written form goes into the
 * key. A name with neither `%` nor `+` (the common case) decodes to itself: it is not parsed.
 */
function parameterName(written: string): string {
  const end = written.indexOf("=");
  const name = end === -1 ? written : written.slice(0, end);
  if (!name.includes("%") && !name.includes("+")) return name;
  // The "&" keeps a leading "?" in the name: the parser drops it only at the very start.
  return new URLSearchParams(`&${name}`).keys().next().value ?? "";
}

/** Orders parameters by name; `sort` is stable, so the values of one name keep their order. */
function byName([a]: Parameter, [b]: Parameter): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The parameters as written, `&`-separated. */
function writtenQuery(parameters: readonly Parameter[]): string {
  return parameters.map(([, written]) => written).join("&");
}

/** Decodes valid UTF-8 (a leading byte order mark kept, as U+FEFF); anything else throws. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A body's text, when it is UTF-8 without a byte order mark: the mark is dropped by an origin that
 * decodes the text (its first name or key loses it) and kept by one that parses the bytes, so a
 * canonical form would merge bodies such origins read otherwise.
 *
 * @throws {TypeError} The body is not UTF-8, or starts with a byte order mark (it is keyed raw).
 */
function strictText(body: Uint8Array): string {
  const text = strictUtf8.decode(body);
  if (text.startsWith("\ufeff")) throw new TypeError("The body starts with a byte order mark");
  return text;
}

/**
 * The canonical form of a request body for its key: JSON with object keys sorted and no
 * whitespace, form parameters sorted by name, a multipart form without its boundary, ignored
 * fields and parameters removed. A body that is not what its `Content-Type` says, or whose
 * canonical form could mean something else, is keyed as it is. A canonical form comes with the
 * `mark` of its kind: its bytes are those a raw body of another type may hold, which an origin
 * reads otherwise (`{"a":2,"b":1}` as `text/plain` is not `{"b":1,"a":2}` as JSON).
 */
function normalizeBody(
  body: Uint8Array,
  type: string,
  contentType: string | null,
  ignored: ReadonlySet<string>,
): { bytes: Uint8Array; mark?: string } {
  try {
    if (type === "application/json" || type.endsWith("+json")) {
      const canonical = canonicalJson(strictText(body), ignored);
      if (canonical !== undefined) return { bytes: encoder.encode(canonical), mark: JSON_MARK };
    } else if (type === "application/x-www-form-urlencoded") {
      const parameters = keptParameters(strictText(body), ignored).sort(byName);
      return { bytes: encoder.encode(writtenQuery(parameters)), mark: FORM_MARK };
    } else if (type === MULTIPART) {
      const canonical = canonicalMultipart(body, contentType!, ignored);
      if (canonical !== undefined) return { bytes: canonical, mark: MULTIPART_MARK };
    }
  } catch {
    // Not what its Content-Type says (or not UTF-8, or with a byte order mark): key the raw bytes.
  }
  return { bytes: body };
}

/** Decodes a part's header lines, as FormData writes them. */
const utf8 = new TextDecoder();

/** Decodes each byte to a character of its own (windows-1252, as WHATWG names "latin1"), losing none. */
const bytewise = new TextDecoder("latin1");

/** The `boundary` parameter of a `multipart/form-data` type, quoted or not (RFC 2046 §5.1.1). */
const BOUNDARY = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i;

/** A part's `Content-Disposition` lines: their parameters. */
const DISPOSITION = /\r\ncontent-disposition:([^\r\n]*)/gi;

/**
 * A `name` parameter (or `name*`) of a `Content-Disposition` line, and its value when quoted
 * (`filename` is another parameter, and a `name` in another field, such as
 * `Content-Type: application/pdf; name="…"`, names no field).
 */
const NAME_PARAMETER = /;\s*name\*?\s*=\s*(?:"([^"]*)")?/gi;

/**
 * The field a part's head names, to match `ignoredParameters`: `undefined` when it names none, or
 * more than one (`name="api_key"; name="q"`, which the parsers of fetch's runtimes read as `q`, the
 * last: such a part stays in the key).
 */
function fieldName(head: string): string | undefined {
  const names: (string | undefined)[] = [];
  for (const [, parameters] of head.matchAll(DISPOSITION)) {
    for (const [, name] of parameters!.matchAll(NAME_PARAMETER)) names.push(name);
  }
  return names.length === 1 ? names[0] : undefined;
}

/**
 * A multipart form without its boundary, which `fetch` draws at random for each `FormData`: its
 * preamble, the parts whose field names are not ignored (each as written, in their order) and its
 * epilogue, each as its length and its bytes, taken from the body as they are (a body several
 * megabytes long is keyed in about the time its raw bytes are). `undefined` when the body is not
 * laid out as its type says.
 */
function canonicalMultipart(
  body: Uint8Array,
  contentType: string,
  ignored: ReadonlySet<string>,
): Uint8Array | undefined {
  const match = BOUNDARY.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined) return undefined;
  // Every delimiter but the first follows a line break: one is added before the first. The text
  // holds one character per byte, so a section's place in it is its place in the body, plus 2.
  const delimiter = `\r\n--${boundary}`;
  const sections = `\r\n${bytewise.decode(body)}`.split(delimiter);
  const last = sections.length - 1;
  if (last === 0 || !sections[last]!.startsWith("--")) return undefined;
  const pieces: Uint8Array[] = [];
  const add = (length: number, ...bytes: Uint8Array[]) => pieces.push(encoder.encode(`${length}:`), ...bytes);
  // The preamble: empty, or the line break added and the body's first bytes.
  const preamble = sections[0]!.length;
  if (preamble === 0) add(0);
  else add(preamble, CRLF, body.subarray(0, preamble - 2));
  for (
    let i = 1, at = preamble + delimiter.length - 2;
    i <= last;
    at += sections[i]!.length + delimiter.length, i++
  ) {
    const section = sections[i]!;
    if (i < last) {
      const headEnd = section.indexOf("\r\n\r\n");
      if (!section.startsWith("\r\n") || headEnd === -1) return undefined;
      // The name as written, in UTF-8 (as FormData writes it), to match ignoredParameters.
      const name = fieldName(utf8.decode(body.subarray(at, at + headEnd)));
      if (name !== undefined && ignored.has(name)) continue;
    }
    add(section.length, body.subarray(at, at + section.length));
  }
  return joined(pieces);
}

const CRLF = new Uint8Array([13, 10]);

/**
 * A JSON text with object keys sorted and no whitespace, or `undefined` when that form would lose
 * something an origin may read: a number JavaScript writes back otherwise, or a key given twice.
 *
 * @throws {SyntaxError} The text is not JSON.
 */
function canonicalJson(text: string, ignored: ReadonlySet<string>): string | undefined {
  const value: unknown = JSON.parse(text);
  const counted = { members: 0 };
  const sorted = sortJson(value, ignored, counted);
  return writtenBack(text, counted.members, ignored) ? JSON.stringify(sorted) : undefined;
}

/**
 * Strings (whole, so that nothing in one is taken for a token), numbers, the colons that end
 * object keys and the brackets that open and close objects and arrays, in a JSON text.
 */
const JSON_TOKENS = /"[^"\\]*(?:\\.[^"\\]*)*"|-?\d[\d.eE+-]*|[:{}[\]]/g;

/**
 * Whether `JSON.stringify` writes back what a valid JSON text says: each number as written
 * (`1.0`, `1e2`, `-0`, `1e400` and integers beyond 2^53 are written otherwise), and each object
 * member (the parse keeps the last of a key given twice; other parsers keep the first, or refuse).
 * An ignored member at the top level is left out whatever its value, so what it holds (a number,
 * a key given twice, the member itself given twice) does not count.
 *
 * @param text The JSON text.
 * @param members The members of the objects the parse gave, ignored top-level ones aside.
 * @param ignored The top-level members left out.
 */
function writtenBack(text: string, members: number, ignored: ReadonlySet<string>): boolean {
  let colons = 0;
  let depth = 0;
  let name = "";
  // Whether the tokens are those of an ignored top-level member's value.
  let skipping = false;
  for (const [token] of text.matchAll(JSON_TOKENS)) {
    if (token === "{" || token === "[") depth++;
    else if (token === "}" || token === "]") depth--;
    else if (token === ":") {
      // A colon at the first depth ends a key of the top-level object: a member starts.
      if (depth === 1 && ignored.size > 0) skipping = ignored.has(JSON.parse(name));
      if (!skipping) colons++;
    } else if (token[0] === '"') name = token;
    else if (!skipping && String(Number(token)) !== token) return false;
    // The top-level object's end ends its last member.
    if (depth === 0) skipping = false;
  }
  return colons === members;
}

/**
 * A JSON value with object keys sorted and `ignored` left out at the top; counts object members
 * (not those of an ignored member, whose colons are not counted either).
 */
function sortJson(value: unknown, ignored: ReadonlySet<string>, counted: { members: number }): unknown {
  if (Array.isArray(value)) return value.map((item) => sortJson(item, NONE, counted));
  if (value === null || typeof value !== "object") return value;
  // No prototype: a "__proto__" field must stay a field, or bodies that differ in it would share a key.
  const sorted: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(value).sort()) {
    if (ignored.has(name)) continue;
    counted.members++;
    sorted[name] = sortJson((value as Record<string, unknown>)[name], NONE, counted);
  }
  return sorted;
}
