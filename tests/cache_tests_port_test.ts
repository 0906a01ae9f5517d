/**
 * Freshness, in the areas of the http-tests/cache-tests suite (re-expressed in our own words):
 * Cache-Control freshness and parsing, Age parsing, Expires freshness and parsing, heuristic
 * freshness per status, status code cacheability, must-understand. Each case runs against a
 * private and a shared CachedSession unless it names one.
 */
import { type OriginHeader, type PortCase, registerCases, type Step } from "./_cache_tests_engine.ts";

/** Stored with these headers, asked again after `wait` seconds, expected (not) to be reused. */
function reuse(
  id: string,
  kind: PortCase["kind"],
  headers: readonly OriginHeader[],
  expect: "cached" | "not_cached",
  extra: Partial<PortCase> & { wait?: number; status?: number } = {},
): PortCase {
  const { wait = 3, status, ...rest } = extra;
  const first: Step = status === undefined ? { headers, wait } : { headers, wait, status };
  const second: Step = status === undefined ? { expect } : { expect, status };
  return { id, kind, steps: [first, second], ...rest };
}

const cc = (value: string): OriginHeader[] => [["Cache-Control", value]];

registerCases("cc-freshness", [
  reuse("freshness-none", "required", [], "not_cached"),
  reuse("freshness-max-age", "optimal", cc("max-age=3600"), "cached"),
  reuse("freshness-max-age-stale", "required", cc("max-age=2"), "not_cached"),
  reuse("freshness-max-age-0", "required", cc("max-age=0"), "not_cached"),
  reuse("freshness-max-age-max-minus-1", "optimal", cc("max-age=2147483647"), "cached"),
  reuse("freshness-max-age-max", "optimal", cc("max-age=2147483648"), "cached"),
  reuse("freshness-max-age-max-plus", "optimal", cc("max-age=99999999999"), "cached"),
  reuse(
    "freshness-max-age-age",
    "required",
    [["Cache-Control", "max-age=3600"], ["Age", "7200"]],
    "not_cached",
  ),
  reuse(
    "freshness-max-age-date",
    "required",
    [["Cache-Control", "max-age=3600"], ["Date", -7200]],
    "not_cached",
  ),
  reuse(
    "freshness-max-age-expires",
    "optimal",
    [["Cache-Control", "max-age=3600"], ["Expires", -7200]],
    "cached",
  ),
  reuse(
    "freshness-max-age-expires-invalid",
    "optimal",
    [["Cache-Control", "max-age=3600"], ["Expires", "0"]],
    "cached",
  ),
  reuse(
    "freshness-max-age-0-expires",
    "required",
    [["Cache-Control", "max-age=0"], ["Expires", 3600]],
    "not_cached",
  ),
  reuse("freshness-max-age-extension", "optimal", cc("foobar, max-age=3600"), "cached"),
  reuse("freshness-max-age-case-insenstive", "optimal", cc("MaX-aGe=3600"), "cached"),
  reuse("freshness-max-age-negative", "required", cc("max-age=-3600"), "not_cached"),
  reuse("freshness-max-age-s-maxage-private", "required", cc("s-maxage=3600, max-age=1"), "not_cached", {
    only: "private",
  }),
  reuse("freshness-s-maxage-shared", "optimal", cc("s-maxage=3600"), "cached", { only: "shared" }),
  reuse(
    "freshness-max-age-s-maxage-shared-longer",
    "required",
    cc("max-age=3600, s-maxage=1"),
    "not_cached",
    {
      only: "shared",
    },
  ),
  reuse(
    "freshness-max-age-s-maxage-shared-longer-multiple",
    "required",
    [["Cache-Control", "max-age=3600"], ["Cache-Control", "s-maxage=1"]],
    "not_cached",
    { only: "shared" },
  ),
  reuse("freshness-max-age-s-maxage-shared-shorter", "optimal", cc("max-age=1, s-maxage=3600"), "cached", {
    only: "shared",
  }),
  reuse(
    "freshness-max-age-s-maxage-shared-shorter-expires",
    "optimal",
    [["Expires", -10], ["Cache-Control", "max-age=0, s-maxage=3600"]],
    "cached",
    { only: "shared" },
  ),
]);

registerCases("cc-parse", [
  reuse("freshness-max-age-quoted", "optimal", cc('max-age="3600"'), "cached"),
  reuse("freshness-max-age-single-quoted", "required", cc("max-age='3600'"), "not_cached"),
  reuse(
    "freshness-max-age-ignore-quoted",
    "required",
    cc('extension="max-age=3600", max-age=1'),
    "not_cached",
  ),
  reuse(
    "freshness-max-age-ignore-quoted-rev",
    "required",
    cc('max-age=1, extension="max-age=3600"'),
    "not_cached",
  ),
  reuse(
    "freshness-max-age-ignore-quoted-all",
    "required",
    cc('extension="max-age=3600", max-age="1"'),
    "not_cached",
  ),
  reuse("freshness-max-age-leading-zero", "required", cc("max-age=003600"), "cached"),
  // The grammar allows no whitespace around "=": the directive is invalid, hence stale.
  reuse("freshness-max-age-space-before-equals", "required", cc("max-age =3600"), "not_cached"),
  reuse("freshness-max-age-space-after-equals", "required", cc("max-age= 3600"), "not_cached"),
  // RFC 9111 §4.2.1: a duplicated directive may make the response stale; this cache does so.
  reuse(
    "freshness-max-age-two-fresh-stale-sameline",
    "deviation",
    cc("max-age=1800, max-age=1"),
    "not_cached",
  ),
  reuse("freshness-max-age-decimal-zero", "deviation", cc("max-age=3600.0"), "not_cached"),
]);

const age = (...values: string[]): OriginHeader[] => [
  ["Cache-Control", "max-age=3600"],
  ...values.map((value): [string, string] => ["Age", value]),
];

registerCases("age-parse", [
  // Invalid or repeated Age is invalid freshness information: stale (RFC 9111 §4.2.1).
  reuse("age-parse-nonnumeric", "required", age("abc"), "not_cached"),
  reuse("age-parse-negative", "required", age("-7200"), "not_cached"),
  reuse("age-parse-float", "required", age("7200.0"), "not_cached"),
  reuse("age-parse-suffix", "required", age("7200,0"), "not_cached"),
  reuse("age-parse-suffix-twoline", "required", age("7200", "0"), "not_cached"),
  reuse("age-parse-prefix-twoline", "required", age("0", "7200"), "not_cached"),
  reuse("age-parse-dup-0", "required", age("0, 0"), "not_cached"),
  reuse("age-parse-dup-0-twoline", "required", age("0", "0"), "not_cached"),
  reuse("age-parse-parameter", "required", age("7200;foo=bar"), "not_cached"),
  reuse("age-parse-large", "required", age("2147483648"), "not_cached"),
  reuse("age-parse-small-valid", "optimal", age("60"), "cached"),
]);

registerCases("expires", [
  reuse("freshness-expires-future", "optimal", [["Expires", 30 * 24 * 3600]], "cached"),
  reuse("freshness-expires-past", "required", [["Expires", -30 * 24 * 3600]], "not_cached"),
  reuse("freshness-expires-present", "required", [["Expires", 0]], "not_cached", { wait: 0 }),
  reuse("freshness-expires-old-date", "required", [["Expires", 300], ["Date", 400]], "not_cached"),
  reuse("freshness-expires-invalid", "required", [["Expires", "0"]], "not_cached"),
  reuse("freshness-expires-invalid-date", "optimal", [["Date", "foo"], ["Expires", 10]], "cached", {
    wait: 0,
  }),
  reuse(
    "freshness-expires-age-slow-date",
    "required",
    [["Date", -10], ["Expires", 10], ["Age", "25"]],
    "not_cached",
    {
      wait: 0,
    },
  ),
  reuse(
    "freshness-expires-age-fast-date",
    "required",
    [["Date", 10], ["Expires", 20], ["Age", "15"]],
    "not_cached",
    {
      wait: 0,
    },
  ),
]);

const expiresAt = (value: string): OriginHeader[] => [["Expires", value]];

registerCases("expires-parse", [
  reuse("freshness-expires-rfc850", "optimal", expiresAt("Thursday, 18-Aug-50 02:01:18 GMT"), "cached"),
  reuse("freshness-expires-ansi-c", "optimal", expiresAt("Thu Aug  8 02:01:18 2050"), "cached"),
  // RFC 9111 §4.2: cache recipients match day, month and zone names case-insensitively.
  reuse(
    "freshness-expires-wrong-case-weekday",
    "optimal",
    expiresAt("THU, 18 Aug 2050 02:01:18 GMT"),
    "cached",
  ),
  reuse(
    "freshness-expires-wrong-case-month",
    "optimal",
    expiresAt("Thu, 18 AUG 2050 02:01:18 GMT"),
    "cached",
  ),
  reuse("freshness-expires-wrong-case-tz", "optimal", expiresAt("Thu, 18 Aug 2050 02:01:18 gMT"), "cached"),
  reuse(
    "freshness-expires-invalid-utc",
    "required",
    expiresAt("Thu, 18 Aug 2050 02:01:18 UTC"),
    "not_cached",
  ),
  reuse(
    "freshness-expires-invalid-2-digit-year",
    "required",
    expiresAt("Thu, 18 Aug 50 02:01:18 GMT"),
    "not_cached",
  ),
  reuse(
    "freshness-expires-invalid-no-comma",
    "required",
    expiresAt("Thu 18 Aug 2050 02:01:18 GMT"),
    "not_cached",
  ),
  reuse(
    "freshness-expires-invalid-1-digit-hour",
    "required",
    expiresAt("Thu, 18 Aug 2050 2:01:18 GMT"),
    "not_cached",
  ),
]);

const DAY = 24 * 3600;

registerCases(
  "heuristic",
  [
    ...[200, 203, 204, 404, 405, 410, 414, 501].map((status) =>
      reuse(`heuristic-${status}-cached`, "optimal", [["Last-Modified", -DAY]], "cached", { status, wait: 0 })
    ),
    ...[201, 202, 403, 502, 503, 504, 599].map((status) =>
      reuse(`heuristic-${status}-not_cached`, "required", [["Last-Modified", -DAY]], "not_cached", {
        status,
        wait: 0,
      })
    ),
    // RFC 9111 §5.2.2.9: with public and no explicit freshness, any status is heuristically cacheable.
    reuse(
      "heuristic-599-cached (public)",
      "optimal",
      [["Last-Modified", -DAY], ["Cache-Control", "public"]],
      "cached",
      {
        status: 599,
        wait: 0,
      },
    ),
  ],
);

const STATUSES = [200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502, 503, 504, 599];

registerCases("status", [
  ...STATUSES.map((status) =>
    reuse(`status-${status}-fresh`, "optimal", cc("max-age=100000"), "cached", { status })
  ),
  ...STATUSES.map((status) =>
    reuse(
      `status-${status}-stale`,
      "required",
      [["Expires", -5000], ["Last-Modified", -100000]],
      "not_cached",
      {
        status,
      },
    )
  ),
  // RFC 9111 §5.2.2.3: must-understand stores only statuses the cache implements, ignoring no-store.
  reuse(
    "status-599-must-understand",
    "required",
    cc("max-age=3600, no-store, must-understand"),
    "not_cached",
    {
      status: 599,
      wait: 0,
    },
  ),
  reuse("status-200-must-understand", "optimal", cc("max-age=3600, no-store, must-understand"), "cached", {
    wait: 0,
  }),
  // With allowedCodes set, the configuration decides which statuses are stored at all.
  reuse("status-404-fresh (allowedCodes: [200])", "deviation", cc("max-age=3600"), "not_cached", {
    status: 404,
    options: { allowedCodes: [200] },
  }),
]);
