/**
 * {@linkcode ResponseFilter}: which entries an inspection or bulk delete acts on, checked once
 * and turned into what a scan needs ({@linkcode select}).
 *
 * @module
 */

import type { Storage } from "../backends/base.ts";
import { compileUrlPatterns, describe, EXPIRE_IMMEDIATELY } from "./expiration.ts";
import { storedMethods, urlForms } from "./key_forms.ts";
import type { CacheEntry } from "./record.ts";

/**
 * Which entries an inspection or delete method acts on. Every given criterion must hold (they
 * combine with AND); an empty filter selects every entry.
 *
 * @example Expired API responses older than a week
 * ```ts
 * import type { ResponseFilter } from "./response_filter.ts";
 * const filter: ResponseFilter = { urlPattern: "api.example.com/*", expired: true, olderThan: 7 * 86_400 };
 * console.log(filter.olderThan); // 604800
 * ```
 */
export interface ResponseFilter {
  /**
   * Only entries stored for these absolute URLs: every method, credential and Vary variant of
   * each, and the entry a redirect to the URL led to. Pass them as listed by `urls()` (ignored
   * parameters are already removed there); fragments and query order do not matter.
   */
  urls?: readonly (string | URL)[];
  /**
   * Only entries whose URL matches: a glob (`*` any characters, `?` one) matched
   * case-insensitively against the start of the URL without its scheme, as in
   * `urlsExpireAfter` (`"api.example.com/v2/*"`), or a `RegExp` tested on the whole URL.
   */
  urlPattern?: string | RegExp;
  /** Only entries that are no longer fresh (`expiresAt <= now`). */
  expired?: boolean;
  /** Only entries that are still fresh. */
  valid?: boolean;
  /**
   * Only entries created at least this long ago: seconds, or a `Date` (entries created no later than it).
   */
  olderThan?: number | Date;
}

/** A checked filter: a predicate on entries, and the URLs to look under (if any), by method. */
export interface Selection {
  urls: URL[] | undefined;
  /** The methods whose entries of `urls` are looked under. */
  methods: readonly string[];
  test: ((entry: CacheEntry, now: number) => boolean) | undefined;
}

/**
 * Checks a filter, and makes of it what a scan needs.
 *
 * @param storage The storage scanned (whose sessions' forms of a URL's keys are looked under).
 * @param filter The filter.
 * @param operation Names the calling method in error messages.
 * @param methods The methods whose entries of the filter's URLs are looked under.
 * @returns The selection.
 * @throws {TypeError} When the filter is malformed.
 * @throws {RangeError} When `olderThan` is negative or an invalid date.
 */
export function select(
  storage: Storage,
  filter: ResponseFilter,
  operation: string,
  methods: readonly string[] = storedMethods(storage),
): Selection {
  const fail = (message: string, value: unknown, type: ErrorConstructor = TypeError): never => {
    throw new type(`Cannot ${operation}: ${message}: received ${describe(value)}`);
  };
  if (typeof filter !== "object" || filter === null) fail("the filter must be an object", filter);
  const { urls, urlPattern, expired, valid, olderThan } = filter;
  for (const name of Object.keys(filter)) {
    if (!FILTER_FIELDS.has(name)) {
      fail(`unknown filter field: allowed are ${[...FILTER_FIELDS].join(", ")}`, name);
    }
  }
  if (expired !== undefined && typeof expired !== "boolean") fail("expired must be true or false", expired);
  if (valid !== undefined && typeof valid !== "boolean") fail("valid must be true or false", valid);
  let parsedUrls: URL[] | undefined;
  if (urls !== undefined) {
    if (!Array.isArray(urls)) fail("urls must be an array of absolute URLs", urls);
    // Array.from, not map: it also visits a hole (`[, url]`), which map skips and leaves in.
    parsedUrls = Array.from(urls, (url) => {
      if (typeof url !== "string" && !(url instanceof URL)) {
        fail("urls must be an array of absolute URLs", url);
      }
      try {
        return new URL(url);
      } catch {
        return fail("urls must be an array of absolute URLs", url);
      }
    });
  }
  let matches: ((url: string) => boolean) | undefined;
  if (urlPattern instanceof RegExp) {
    matches = (url) => {
      urlPattern.lastIndex = 0;
      return urlPattern.test(url);
    };
  } else if (typeof urlPattern === "string" && urlPattern !== "") {
    let lookup: ReturnType<typeof compileUrlPatterns>;
    try {
      lookup = compileUrlPatterns({ [urlPattern]: EXPIRE_IMMEDIATELY }, "urlPattern");
    } catch (error) {
      // (A glob that can never match: the message names the filter field and the method.)
      throw new TypeError(`Cannot ${operation}: ${(error as Error).message}`);
    }
    // (A record of another writer may hold a URL that does not parse: it matches no glob.)
    matches = (url) => {
      const parsed = URL.parse(url);
      return parsed !== null && lookup(parsed) !== undefined;
    };
  } else if (urlPattern !== undefined) {
    fail("urlPattern must be a non-empty glob string or a RegExp", urlPattern);
  }
  let cutoff: ((now: number) => number) | undefined;
  if (olderThan instanceof Date) {
    const time = olderThan.getTime();
    if (Number.isNaN(time)) fail("olderThan must be seconds >= 0 or a valid Date", olderThan, RangeError);
    cutoff = () => time;
  } else if (typeof olderThan === "number") {
    if (!(olderThan >= 0)) fail("olderThan must be seconds >= 0 or a valid Date", olderThan, RangeError);
    cutoff = (now) => now - olderThan * 1000;
  } else if (olderThan !== undefined) {
    fail("olderThan must be seconds >= 0 or a valid Date", olderThan);
  }
  const checks = expired || valid || matches !== undefined || cutoff !== undefined;
  return {
    // Each URL in every form that the sessions over the storage key it by.
    urls: parsedUrls && urlForms(storage, parsedUrls),
    methods,
    test: !checks ? undefined : (entry, now) => {
      const isExpired = entry.expiresAt <= now;
      if ((expired && !isExpired) || (valid && isExpired)) return false;
      if (cutoff !== undefined && entry.createdAt > cutoff(now)) return false;
      return matches === undefined || matches(entry.url);
    },
  };
}

const FILTER_FIELDS = new Set(["urls", "urlPattern", "expired", "valid", "olderThan"]);
