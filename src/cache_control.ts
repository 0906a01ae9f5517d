/**
 * Parsing of the header fields that carry caching information: `Cache-Control` (RFC 9111 §5.2),
 * `Pragma` (§5.4) and HTTP dates (RFC 9110 §5.6.7). Pure functions; they never throw, whatever
 * the input.
 *
 * @module
 */

/** The directives of one `Cache-Control` field value, as far as this cache understands them. */
export interface CacheControl {
  /** `max-age` in seconds; `0` when present but invalid or duplicated. */
  maxAge?: number;
  /** `s-maxage` in seconds (shared caches only). */
  sMaxAge?: number;
  /**
   * `max-stale` in seconds; `Infinity` when given without a value, `0` when invalid, the least of
   * them when repeated (request directive).
   */
  maxStale?: number;
  /**
   * `min-fresh` in seconds (request directive); the largest of them when repeated, an invalid one
   * as `0`.
   */
  minFresh?: number;
  /** `stale-while-revalidate` in seconds (RFC 5861 §3). */
  staleWhileRevalidate?: number;
  /** `stale-if-error` in seconds (RFC 5861 §4). */
  staleIfError?: number;
  /** `no-cache`: `true`, or the header names it is qualified with. */
  noCache?: true | string[];
  /** `private`: `true`, or the header names it is qualified with. */
  private?: true | string[];
  /** `no-store`. */
  noStore?: true;
  /** `must-revalidate`. */
  mustRevalidate?: true;
  /** `proxy-revalidate`. */
  proxyRevalidate?: true;
  /** `public`. */
  public?: true;
  /** `immutable` (RFC 8246). */
  immutable?: true;
  /** `only-if-cached` (request directive). */
  onlyIfCached?: true;
  /** `must-understand` (RFC 9111 §5.2.2.3). */
  mustUnderstand?: true;
}

/** A directive name or token argument (RFC 9110 §5.6.2), lower-cased. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;

/** A well-formed directive argument: a token or a complete quoted-string (RFC 9110 §5.6.4). */
const ARGUMENT = /^(?:[!#$%&'*+.^_`|~0-9a-z-]+|"(?:[^"\\]|\\.)*")$/i;

/** The directives that forbid or restrict storing, spotted inside malformed text. */
const STRICT = [
  [/(^|[^a-z0-9-])no-store([^a-z0-9-]|$)/i, "noStore"],
  [/(^|[^a-z0-9-])private([^a-z0-9-]|$)/i, "private"],
  [/(^|[^a-z0-9-])no-cache([^a-z0-9-]|$)/i, "noCache"],
] as const;

/** Largest delta-seconds a cache has to represent (RFC 9111 §1.2.2). */
export const MAX_DELTA_SECONDS = 2147483648;

const SECONDS = {
  "max-age": "maxAge",
  "s-maxage": "sMaxAge",
  "stale-while-revalidate": "staleWhileRevalidate",
  "stale-if-error": "staleIfError",
} as const;

const FLAGS = {
  "no-store": "noStore",
  "must-revalidate": "mustRevalidate",
  "proxy-revalidate": "proxyRevalidate",
  "public": "public",
  "immutable": "immutable",
  "only-if-cached": "onlyIfCached",
  "must-understand": "mustUnderstand",
} as const;

/**
 * Parses a `Cache-Control` field value (several field lines joined with commas).
 *
 * Directive names are case-insensitive; unknown directives are ignored (§5.2.3) and a quoted
 * string never leaks a directive. A duplicated or malformed delta-seconds directive (whitespace
 * around `=`, a sign, a fraction, trailing text) is "considered invalid" (§4.2.1) and read as
 * `0`, which makes the response stale rather than fresher than its origin meant. A malformed
 * `private` or `no-cache` argument widens to the unqualified directive, never to nothing.
 *
 * @param value The field value, or `null` when absent.
 * @returns The directives.
 *
 * @example Parse a response's directives
 * ```ts
 * import { parseCacheControl } from "./cache_control.ts";
 * console.log(parseCacheControl('max-age=60, private="set-cookie", must-revalidate'));
 * // { maxAge: 60, private: ["set-cookie"], mustRevalidate: true }
 * ```
 */
export function parseCacheControl(value: string | null): Readonly<CacheControl> {
  if (!value) return NO_DIRECTIVES;
  let directives = recent.get(value);
  if (directives === undefined) {
    // Origins repeat a handful of values: each is parsed once, and the result shared (frozen).
    if (recent.size >= RECENT_LIMIT) recent.clear();
    directives = parseDirectives(value);
    if (Array.isArray(directives.noCache)) Object.freeze(directives.noCache);
    if (Array.isArray(directives.private)) Object.freeze(directives.private);
    recent.set(value, Object.freeze(directives));
  }
  return directives;
}

const NO_DIRECTIVES: Readonly<CacheControl> = Object.freeze({});
/** How many distinct field values are remembered: 256. */
const RECENT_LIMIT = 256;
const recent = new Map<string, Readonly<CacheControl>>();

function parseDirectives(value: string): CacheControl {
  const result: CacheControl = {};
  const seen = new Set<string>();
  for (const [name, argument, quoted, written] of splitDirectives(value)) {
    // A malformed directive that still spells no-store, private or no-cache (`no-store;`,
    // `"private"`, `max-age=60 no-store`, `x="…, no-store`) counts as that directive, unqualified:
    // read as unknown, it would make the response more cacheable than its origin meant.
    const malformed = !TOKEN.test(name)
      ? name
      : written !== undefined && !ARGUMENT.test(written.trim())
      ? written
      : undefined;
    if (malformed !== undefined) {
      for (const [word, field] of STRICT) if (word.test(malformed)) result[field] = true;
    }
    const duplicate = seen.has(name);
    seen.add(name);
    if (Object.hasOwn(SECONDS, name)) {
      const field = SECONDS[name as keyof typeof SECONDS];
      const seconds = duplicate ? undefined : parseDeltaSeconds(argument);
      result[field] = seconds ?? 0;
    } else if (Object.hasOwn(FLAGS, name)) {
      result[FLAGS[name as keyof typeof FLAGS]] = true;
    } else if (name === "max-stale") {
      // Repeated, the least stale-tolerant occurrence counts (§4.2.1: honour the most restrictive),
      // an invalid one as 0: never more staleness than any one occurrence allows.
      const seconds = argument === undefined ? Infinity : parseDeltaSeconds(argument) ?? 0;
      result.maxStale = Math.min(result.maxStale ?? Infinity, seconds);
    } else if (name === "min-fresh") {
      // Repeated, the most demanding occurrence counts, as for max-stale: read as 0, two of them
      // (a default and the caller's own) would accept a response about to go stale.
      result.minFresh = Math.max(result.minFresh ?? 0, parseDeltaSeconds(argument) ?? 0);
    } else if (name === "no-cache" || name === "private") {
      const field = name === "no-cache" ? "noCache" : "private";
      // Only a quoted, non-empty list qualifies the directive (§5.2.2.4, §5.2.2.7); anything
      // else is read as the unqualified directive, the stricter of the two.
      const names = quoted && argument !== undefined ? parseFieldNames(argument) : [];
      const previous = result[field];
      if (names.length === 0 || previous === true) result[field] = true;
      else result[field] = [...(previous ?? []), ...names];
    }
  }
  return result;
}

/**
 * Parses delta-seconds (RFC 9111 §1.2.2): a non-negative integer, capped at 2^31.
 *
 * @param value The argument (token or quoted form).
 * @returns The seconds, or `undefined` when it is not valid.
 */
export function parseDeltaSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]+$/.test(value)) return undefined;
  return Math.min(Number(value), MAX_DELTA_SECONDS);
}

/**
 * Parses an HTTP date in any of the three formats a recipient must accept (RFC 9110 §5.6.7):
 * IMF-fixdate, RFC 850 and asctime. All are UTC.
 *
 * @param value The field value.
 * @returns Epoch milliseconds, or `undefined` when the value is not a valid HTTP date.
 *
 * @example
 * ```ts
 * import { parseHttpDate } from "./cache_control.ts";
 * console.log(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")); // 784111777000
 * console.log(parseHttpDate("0")); // undefined
 * ```
 */
export function parseHttpDate(value: string | null): number | undefined {
  if (!value) return undefined;
  // Every hit of an entry parses its Date again: remember the last answer.
  if (value === lastDate.text) return lastDate.time;
  const time = parseDate(value);
  lastDate = { text: value, time };
  return time;
}

let lastDate: { text: string; time: number | undefined } = { text: "", time: undefined };

function parseDate(value: string): number | undefined {
  const text = value.trim();
  let match = IMF_FIXDATE.exec(text);
  if (match) return utc(match[3]!, match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  match = RFC850_DATE.exec(text);
  if (match) return rfc850Time(match);
  match = ASCTIME_DATE.exec(text);
  if (match) return utc(match[6]!, match[1]!, match[2]!, match[3]!, match[4]!, match[5]!);
  return undefined;
}

/**
 * The time an rfc850-date names. RFC 9110 §5.6.7: a timestamp with a two-digit year that appears
 * to be more than 50 years in the future means the most recent past year with those digits. The
 * year 50 years from now has both: its days after today's date are more than 50 years away.
 * The day name tells two centuries apart (a date falls on another weekday 100 years on): a year
 * the rule puts in the future whose date fell on the named day a century before is read there.
 * `Thursday, 01-Jan-70 00:00:00 GMT`, the epoch as RFC 850 writes it (an `Expires` that means
 * "already expired"), is 1970, not 2070, a Wednesday.
 *
 * @param match The match of {@linkcode RFC850_DATE}.
 * @returns Epoch milliseconds, or `undefined` when it names no valid date.
 */
function rfc850Time(match: RegExpExecArray): number | undefined {
  const [, dayName = "", day = "", month = "", twoDigits = "", hour = "", minute = "", second = ""] = match;
  const now = Date.now();
  const limit = new Date(now);
  limit.setUTCFullYear(limit.getUTCFullYear() + 50);
  let year = 1900 + Number(twoDigits);
  while (year + 100 <= limit.getUTCFullYear()) year += 100;
  const at = (year: number) => utc(String(year), month, day, hour, minute, second);
  let time = at(year);
  if (time !== undefined && time > limit.getTime()) time = at(year -= 100);
  if (time === undefined || time <= now || fallsOn(time, dayName)) return time;
  const before = at(year - 100);
  return before !== undefined && fallsOn(before, dayName) ? before : time;
}

/** Whether a time falls on the named weekday (a full name, in any case). */
function fallsOn(time: number, dayName: string): boolean {
  return WEEKDAYS[new Date(time).getUTCDay()] === dayName.toLowerCase();
}

/**
 * Formats epoch milliseconds as an IMF-fixdate.
 *
 * @param time Epoch milliseconds.
 * @returns The HTTP date.
 */
export function formatHttpDate(time: number): string {
  return new Date(time).toUTCString();
}

/**
 * Splits a comma-separated list of field names (as in `Vary` or `no-cache="…"`), lower-cased,
 * without empty members.
 *
 * @param value The list.
 * @returns The names.
 */
export function parseFieldNames(value: string): string[] {
  const names: string[] = [];
  for (const part of value.split(",")) {
    const name = part.trim().toLowerCase();
    if (name !== "") names.push(name);
  }
  return names;
}

/**
 * The media type of a `Content-Type` value, lower-cased, without its parameters.
 *
 * @param value The field's value.
 * @returns The media type (`"text/event-stream"`), or `""` when there is none.
 */
export function mediaType(value: string | null): string {
  return value === null ? "" : value.split(";", 1)[0]!.trim().toLowerCase();
}

/**
 * Whether a `Content-Encoding` value names a content coding: any but `identity` (in any case),
 * which means none.
 *
 * @param value The field's value.
 * @returns Whether the body was coded (and fetch has decoded it).
 */
export function hasContentCoding(value: string | null): boolean {
  return value !== null && value.trim().toLowerCase() !== "identity";
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
// RFC 9111 §4.2: "a cache recipient SHOULD match ... day, month, and time-zone names ... case
// insensitively", although HTTP-date is case-sensitive.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, "i");
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const RFC850_DATE = new RegExp(
  `^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
  "i",
);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, "i");

function utc(
  year: string,
  month: string,
  day: string,
  hour: string,
  minute: string,
  second: string,
): number | undefined {
  const m = MONTHS.indexOf(month.toLowerCase());
  const [d, h, min, s] = [Number(day), Number(hour), Number(minute), Number(second)];
  if (d < 1 || d > 31 || h > 23 || min > 59 || s > 60) return undefined;
  const y = Number(year);
  const date = new Date(Date.UTC(y, m, d, h, min, Math.min(s, 59)));
  // `Date.UTC` reads a year below 100 as one of the 1900s: .NET writes its least date,
  // `Mon, 01 Jan 0001 00:00:00 GMT`, as a Last-Modified or an Expires.
  if (y < 100) date.setUTCFullYear(y, m, d);
  return date.getUTCDate() === d ? date.getTime() : undefined;
}

/**
 * Yields `[lower-case name, argument, quoted]` per directive; quoted arguments are unquoted. The
 * grammar (§5.2) allows no whitespace around `=`: such an argument, an unterminated quoted
 * string, or one followed by more text, is malformed and yielded as `""`, which no directive
 * accepts as a value.
 */
function* splitDirectives(
  value: string,
): Generator<[string, string | undefined, boolean, string | undefined]> {
  let at = 0;
  const length = value.length;
  while (at < length) {
    let end = at;
    while (end < length && value[end] !== "," && value[end] !== "=") end++;
    const raw = value.slice(at, end);
    const name = raw.trim().toLowerCase();
    let argument: string | undefined;
    let quoted = false;
    let written: number | undefined;
    if (value[end] === "=") {
      end++;
      written = end;
      const spaced = /\s$/.test(raw) || value[end] === " " || value[end] === "\t";
      if (value[end] === '"') {
        let text = "";
        end++;
        while (end < length && value[end] !== '"') {
          if (value[end] === "\\" && end + 1 < length) end++;
          text += value[end];
          end++;
        }
        const closed = end < length;
        if (closed) end++;
        const after = end;
        while (end < length && value[end] !== ",") end++;
        // Text after the closing quote makes the argument malformed, as an unterminated one is.
        argument = closed && !spaced && value.slice(after, end).trim() === "" ? text : "";
        quoted = argument !== "";
      } else {
        const start = end;
        while (end < length && value[end] !== ",") end++;
        argument = spaced ? "" : value.slice(start, end).trim();
      }
    }
    if (name !== "") {
      yield [name, argument, quoted, written === undefined ? undefined : value.slice(written, end)];
    }
    at = end + 1;
  }
}
