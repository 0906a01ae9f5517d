/**
 * Expiration values (`expireAfter`) and URL patterns (`urlsExpireAfter`).
 *
 * Precedence, first that applies: the request's `expireAfter` > the response's own freshness
 * (when `cacheControl` is on) > the first matching URL pattern > the session's `expireAfter`.
 *
 * @module
 */

import { hrefWithoutUserinfo, withoutFragment } from "./cache_keys.ts";

/** Store the response and never let it expire. */
export const NEVER_EXPIRE: -1 = -1;
/** Store the response, but as already expired: it is revalidated before every use. */
export const EXPIRE_IMMEDIATELY = 0;
/**
 * Bypass the cache: the request is neither answered from it nor stored, whatever the response's
 * headers say (as `cache: "no-store"`).
 */
export const DO_NOT_CACHE: -2 = -2;

/**
 * How long a response stays fresh: seconds (a non-negative number), an absolute `Date`, or one
 * of {@linkcode NEVER_EXPIRE}, {@linkcode EXPIRE_IMMEDIATELY}, {@linkcode DO_NOT_CACHE}.
 */
export type ExpireAfter = number | Date;

/** Glob patterns of URLs (without the scheme) mapped to how long their responses stay fresh. */
export type UrlsExpireAfter = Record<string, ExpireAfter>;

const ALLOWED = "seconds >= 0, a valid Date, NEVER_EXPIRE (-1), EXPIRE_IMMEDIATELY (0) or DO_NOT_CACHE (-2)";

/**
 * Checks an expiration value.
 *
 * @param value The value to check.
 * @param option Name of the option it came from, for the error message.
 * @returns The value.
 * @throws {TypeError} When it is neither a number nor a Date.
 * @throws {RangeError} When it is a negative number other than the constants, not finite, or an
 *   invalid Date.
 */
export function checkExpireAfter(value: unknown, option: string): ExpireAfter {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) {
      throw new RangeError(`${option} must be ${ALLOWED}: received an invalid Date`);
    }
    // A copy: the caller's Date may be changed later (`setTime`), this one is what was checked.
    return new Date(value.getTime());
  }
  if (typeof value !== "number") {
    throw new TypeError(`${option} must be ${ALLOWED}: received ${describe(value)}`);
  }
  if (!(Number.isFinite(value) && value >= 0) && value !== NEVER_EXPIRE && value !== DO_NOT_CACHE) {
    throw new RangeError(`${option} must be ${ALLOWED}: received ${value}`);
  }
  return value;
}

/**
 * Turns an expiration value into the moment the response stops being fresh.
 *
 * @param value The expiration value.
 * @param now The current time (epoch ms).
 * @returns Epoch ms (`Infinity` for never), or `undefined` for {@linkcode DO_NOT_CACHE}.
 */
export function expiresAtFor(value: ExpireAfter, now: number): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (value === DO_NOT_CACHE) return undefined;
  if (value === NEVER_EXPIRE) return Infinity;
  // Past the last moment a Date can hold, a lifetime never ends (`expiresAt` stays a valid Date).
  const at = now + value * 1000;
  return at <= LAST_DATE ? at : Infinity;
}

/** The last moment a `Date` can hold (epoch ms). */
const LAST_DATE = 8.64e15;

/** Finds the expiration that the first matching pattern gives a URL. */
export interface UrlExpiration {
  (url: URL): ExpireAfter | undefined;
  /** Whether some pattern gives `DO_NOT_CACHE` (then every request's URL must be matched). */
  readonly refuses: boolean;
}

/**
 * Compiles `urlsExpireAfter`. A pattern is a glob (`*` any characters, `?` one) matched against
 * the start of the URL without its scheme, so `example.com/static` matches everything below it;
 * the first matching pattern, in insertion order, wins.
 *
 * @param patterns Patterns and their expiration, in a plain object.
 * @param option How error messages name the patterns.
 * @returns A lookup function.
 * @throws {TypeError} When `patterns` is not a plain object (a `Map` is not read).
 * @throws {TypeError | RangeError} When a value is not a valid expiration.
 *
 * @example
 * ```ts
 * import { compileUrlPatterns, NEVER_EXPIRE } from "./expiration.ts";
 * const lookup = compileUrlPatterns({ "*.example.com/static/*": NEVER_EXPIRE, "example.com/api": 60 });
 * console.log(lookup(new URL("https://cdn.example.com/static/app.js"))); // -1
 * console.log(lookup(new URL("https://example.com/api/users?id=1"))); // 60
 * ```
 */
export function compileUrlPatterns(
  patterns: UrlsExpireAfter,
  option = "urlsExpireAfter",
): UrlExpiration {
  if (!isPlainObject(patterns)) {
    throw new TypeError(
      `${option} must be a plain object of glob patterns and expirations: received ${describe(patterns)}`,
    );
  }
  const compiled = Object.entries(patterns).map(([pattern, value]): [Glob, ExpireAfter] => [
    compileGlob(pattern, `${option}[${JSON.stringify(pattern)}]`),
    checkExpireAfter(value, `${option}[${JSON.stringify(pattern)}]`),
  ]);
  const refuses = compiled.some(([, value]) => value === DO_NOT_CACHE);
  if (compiled.length === 0) return Object.assign(() => undefined, { refuses });
  return Object.assign((url: URL) => {
    const target = patternTarget(url);
    for (const [pattern, value] of compiled) if (pattern(target)) return value;
    return undefined;
  }, { refuses });
}

/**
 * What a pattern is matched against: the URL without its scheme, and without its userinfo and
 * fragment, which are no part of where it points (`https://user:pw@example.com/a#top` is
 * `example.com/a`): else `"example.com/private/*": DO_NOT_CACHE` would not keep out the same URL
 * with credentials in it.
 *
 * @param url The request's URL.
 * @returns `host/path?query`.
 */
function patternTarget(url: URL): string {
  const href = withoutFragment(hrefWithoutUserinfo(url));
  return href.slice(url.protocol.length + (href.startsWith(`${url.protocol}//`) ? 2 : 0));
}

/**
 * Whether a value is an object literal (or `Object.create(null)`): its own entries are all it
 * says, none inherited from a class or a prototype.
 *
 * @param value The value.
 * @returns `true` for a plain object.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Characters that a URL holds percent-encoded in some of its parts (`"<>` everywhere, `` `{} `` in
 * its path, `'` in its query, `^` in its path on Node and Bun but not on Deno): a pattern's `{`
 * matches the URL's `{` or `%7B`.
 */
const URL_ESCAPED = new Map(
  [..."\"'<>`{}^"].map((char) => [char, `%${char.charCodeAt(0).toString(16).toUpperCase()}`]),
);

/**
 * A pattern's scheme, which is ignored: a scheme (`https://`), also one with wildcards (`*://`,
 * `http*://`), which would otherwise never match the URL without its scheme.
 */
const SCHEME = /^(?:\*|[a-z][a-z0-9+.*?-]*):\/\//i;

/** Whether a URL, without its scheme, starts with what a glob pattern matches. */
type Glob = (target: string) => boolean;

/**
 * Compiles a glob pattern into a matcher of a URL's start that takes time linear in the URL's
 * length times the pattern's: the parts between the `*`s are found one after the other, each at
 * its first place after the one before (as no end anchors the match, the first place is always
 * the best). One regular expression of the whole, `.*` for each `*`, would backtrack: with three
 * `*`s, a 1,600-character URL that does not match took 0.8 s.
 *
 * @param glob The pattern.
 * @param option How an error message names the pattern.
 * @returns The matcher.
 */
function compileGlob(glob: string, option: string): Glob {
  const [first = "", ...rest] = asSerialized(glob.replace(SCHEME, ""), option).split("*");
  const start = new RegExp(partSource(first), "iy");
  const parts = rest.filter((part) => part !== "").map((part) => new RegExp(partSource(part), "ig"));
  return (target) => {
    start.lastIndex = 0;
    if (!start.test(target)) return false;
    let at = start.lastIndex;
    for (const part of parts) {
      part.lastIndex = at;
      if (!part.test(target)) return false;
      at = part.lastIndex;
    }
    return true;
  };
}

/** The regular expression of a part of a glob without `*`: `?` any one character. */
function partSource(part: string): string {
  let source = "";
  for (const char of part) {
    if (char === "?") source += "[^]";
    else if (URL_ESCAPED.has(char)) source += `(?:\\${char}|${URL_ESCAPED.get(char)})`;
    else source += char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return source;
}

/**
 * A pattern as the URL it is matched against is written (`url.href`): a host of Unicode
 * characters in punycode, other non-ASCII characters and spaces percent-encoded as UTF-8.
 *
 * @param pattern The pattern, without its scheme.
 * @param option How an error message names the pattern.
 * @returns The pattern.
 * @throws {TypeError} When a host with non-ASCII characters has wildcards or is not a host.
 */
function asSerialized(pattern: string, option: string): string {
  if (!/[^\x21-\x7e]/.test(pattern)) return pattern;
  const slash = pattern.indexOf("/");
  let host = slash === -1 ? pattern : pattern.slice(0, slash);
  const rest = slash === -1 ? "" : pattern.slice(slash);
  if (/[^\x21-\x7e]/.test(host)) {
    let parsed: string | undefined;
    try {
      if (!/[*?]/.test(host)) parsed = new URL(`http://${host}`).host;
    } catch {
      // (not a host)
    }
    if (parsed === undefined) {
      throw new TypeError(
        `${option} can never match: a host with non-ASCII characters must be one host, without wildcards (or be written as URLs have it, in punycode: "xn--…")`,
      );
    }
    host = parsed;
  }
  // (As URLs write them: UTF-8, uppercase hex; a lone surrogate as U+FFFD.)
  return host + rest.replace(/[^\x21-\x7e]/gu, (char) => encodeURIComponent(char.toWellFormed()));
}

/**
 * Describes a value for an error message.
 *
 * @param value Any value.
 * @returns A short description.
 */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  // (A BigInt shown as `10` would read as the number it is not.)
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return "an array";
  if (value === null || typeof value !== "object") return String(value);
  const name: unknown = value.constructor?.name;
  if (typeof name !== "string" || name === "" || name === "Object") return "an object";
  // "an Error", but "a URL" and "a Uint8Array": a leading U is sounded "you".
  return `${/^[AEIO]/.test(name) ? "an" : "a"} ${name}`;
}
