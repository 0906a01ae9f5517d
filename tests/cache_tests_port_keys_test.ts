/**
 * Keys and selection, in the areas of the http-tests/cache-tests suite (re-expressed in our own
 * words): Vary and its parsing, invalidation by unsafe methods, partial content from stored
 * complete responses, requests with Authorization, query arguments and methods. Each case runs
 * against a private and a shared CachedSession unless it names one.
 */
import { type OriginHeader, type PortCase, registerCases, type Step } from "./_cache_tests_engine.ts";

const FRESH: OriginHeader[] = [["Cache-Control", "max-age=100000"]];
const VARY_STORED: OriginHeader[] = [["Cache-Control", "max-age=5000"], ["Last-Modified", -3000]];

/** A response varying on `vary`, stored for `first` request headers, then asked for with `second`. */
function vary(
  id: string,
  kind: PortCase["kind"],
  varyValue: string | string[],
  first: [string, string][],
  second: [string, string][],
  expect: "cached" | "not_cached",
): PortCase {
  const values = Array.isArray(varyValue) ? varyValue : [varyValue];
  const headers: OriginHeader[] = [...VARY_STORED, ...values.map((value): OriginHeader => ["Vary", value])];
  return { id, kind, steps: [{ requestHeaders: first, headers }, { requestHeaders: second, expect }] };
}

const FOO_BAR_BAZ: [string, string][] = [["Foo", "1"], ["Bar", "abc"], ["Baz", "789"]];

registerCases("vary", [
  vary("vary-match", "optimal", "Foo", [["Foo", "1"]], [["Foo", "1"]], "cached"),
  vary("vary-no-match", "required", "Foo", [["Foo", "1"]], [["Foo", "2"]], "not_cached"),
  vary("vary-omit-stored", "required", "Foo", [], [["Foo", "1"]], "not_cached"),
  vary("vary-omit", "required", "Foo", [["Foo", "1"]], [], "not_cached"),
  vary(
    "vary-cache-key",
    "optimal",
    "Foo",
    [["Foo", "1"], ["Other", "2"]],
    [["Foo", "1"], ["Other", "3"]],
    "cached",
  ),
  vary("vary-2-no-match", "required", "Foo, Bar", [["Foo", "1"], ["Bar", "abc"]], [["Foo", "2"], [
    "Bar",
    "abc",
  ]], "not_cached"),
  vary("vary-3-match", "optimal", "Foo, Bar, Baz", FOO_BAR_BAZ, FOO_BAR_BAZ, "cached"),
  vary("vary-3-order", "required", "Foo, Bar, Baz", FOO_BAR_BAZ, [["Foo", "1"], ["Baz", "789"], [
    "Bar",
    "abcde",
  ]], "not_cached"),
  vary("vary-3-omit", "optimal", "Foo, Bar, Baz", [["Foo", "1"], ["Baz", "789"]], [["Foo", "1"], [
    "Baz",
    "789",
  ]], "cached"),
  vary("vary-normalise-combine", "optimal", "Foo", [["Foo", "1, 2"]], [["Foo", "1"], ["Foo", "2"]], "cached"),
  vary("vary-normalise-space", "optimal", "Foo", [["Foo", "1,2"]], [["Foo", " 1, 2 "]], "cached"),
  vary("vary-normalise-lang-case", "optimal", "Accept-Language", [["Accept-Language", "en, de"]], [[
    "Accept-Language",
    "eN, De",
  ]], "cached"),
  // Languages in another order may select another variant at an origin that reads them in order.
  vary("vary-normalise-lang-order", "deviation", "Accept-Language", [["Accept-Language", "en, de"]], [[
    "Accept-Language",
    "de, en",
  ]], "not_cached"),
  ...["*", "*, *", ", *", "*, Foo", "Foo, *"].map((value) =>
    vary(`vary-syntax (${value})`, "required", value, FOO_BAR_BAZ, FOO_BAR_BAZ, "not_cached")
  ),
  vary("vary-syntax-star-star-lines", "required", ["*", "*"], FOO_BAR_BAZ, FOO_BAR_BAZ, "not_cached"),
  {
    id: "vary-invalidate (two variants stored side by side)",
    kind: "optimal",
    steps: [
      { requestHeaders: [["Foo", "1"]], headers: [...VARY_STORED, ["Vary", "Foo"]], body: "foo_1" },
      {
        requestHeaders: [["Foo", "2"]],
        headers: [...VARY_STORED, ["Vary", "Foo"]],
        body: "foo_2",
        expect: "not_cached",
      },
      { requestHeaders: [["Foo", "1"]], expect: "cached", expectBody: "foo_1" },
      { requestHeaders: [["Foo", "2"]], expect: "cached", expectBody: "foo_2" },
    ],
  },
]);

/** A fresh stored response, an unsafe request, then the stored URL again. */
function invalidation(method: string, status: number, expect: "cached" | "not_cached"): PortCase {
  const id = status < 400 ? `invalidate-${method}` : `invalidate-${method}-failed`;
  return {
    id,
    kind: status < 400 ? "required" : "optimal",
    steps: [{ headers: FRESH }, { method, status }, { expect }],
  };
}

/** A fresh response at `target`, an unsafe request answered with `field: target`, then `target`. */
function locationInvalidation(method: string, field: string): PortCase {
  return {
    id: `invalidate-${method}-${field === "Location" ? "location" : "cl"}`,
    kind: "required",
    steps: [
      { path: "/target", headers: FRESH },
      { method, headers: [[field, "/target"]] },
      { path: "/target", expect: "not_cached" },
    ],
  };
}

const UNSAFE = ["POST", "PUT", "DELETE", "M-SEARCH"];

registerCases("invalidation", [
  ...UNSAFE.map((method) => invalidation(method, 200, "not_cached")),
  ...UNSAFE.map((method) => invalidation(method, 500, "cached")),
  ...UNSAFE.map((method) => locationInvalidation(method, "Location")),
  ...UNSAFE.map((method) => locationInvalidation(method, "Content-Location")),
  {
    id: "invalidate-POST-other-origin-location",
    kind: "required",
    steps: [
      { path: "/target", headers: FRESH },
      { method: "POST", headers: [["Location", "http://other.test/target"]] },
      { path: "/target", expect: "cached" },
    ],
  },
]);

/** A complete stored body, then a Range request answered from it. */
function partial(
  id: string,
  body: string,
  range: string,
  text: string,
  headers: OriginHeader[] = [],
): PortCase {
  const second: Step = {
    requestHeaders: [["Range", range]],
    expect: "cached",
    expectStatus: 206,
    expectBody: text,
  };
  return { id, kind: "optimal", steps: [{ headers: [...FRESH, ...headers], body }, second] };
}

registerCases("partial", [
  partial("partial-store-complete-reuse-partial", "01234567890", "bytes=0-1", "01"),
  partial("partial-store-complete-reuse-partial-no-last", "01234567890", "bytes=1-", "1234567890"),
  partial("partial-store-complete-reuse-partial-suffix", "0123456789A", "bytes=-1", "A"),
  {
    ...partial("partial-use-stored-headers", "01234567890", "bytes=0-1", "01", [["A", "1"]]),
    kind: "required",
  },
  // A 206 is never stored: the next Range request goes to the origin again.
  {
    id: "partial-store-partial-reuse-partial",
    kind: "deviation",
    steps: [
      {
        requestHeaders: [["Range", "bytes=-5"]],
        status: 206,
        headers: [...FRESH, ["Content-Range", "bytes 4-9/10"]],
        body: "01234",
      },
      { requestHeaders: [["Range", "bytes=-5"]], status: 206, expect: "not_cached" },
    ],
  },
]);

const AUTHORIZED: [string, string][] = [["Authorization", "FOO"]];

registerCases("auth", [
  {
    id: "other-authorization",
    kind: "required",
    steps: [
      { requestHeaders: AUTHORIZED, headers: FRESH, expectRequestHeaders: [["authorization", "FOO"]] },
      {
        expect: "not_cached",
      },
    ],
  },
  {
    id: "other-authorization (same credentials, no public)",
    kind: "required",
    only: "shared",
    steps: [{ requestHeaders: AUTHORIZED, headers: FRESH }, {
      requestHeaders: AUTHORIZED,
      expect: "not_cached",
    }],
  },
  ...["max-age=3600, public", "max-age=3600, must-revalidate", "s-maxage=3600"].map((value): PortCase => ({
    id: `other-authorization (same credentials, ${value})`,
    kind: "optimal",
    only: "shared",
    steps: [{ requestHeaders: AUTHORIZED, headers: [["Cache-Control", value]] }, {
      requestHeaders: AUTHORIZED,
      expect: "cached",
    }],
  })),
  // Credentials are part of the key: a response to one never serves a request without them.
  {
    id: "other-authorization-public",
    kind: "deviation",
    only: "shared",
    steps: [{ requestHeaders: AUTHORIZED, headers: [["Cache-Control", "max-age=3600, public"]] }, {
      expect: "not_cached",
    }],
  },
  {
    id: "other-cookie",
    kind: "deviation",
    steps: [{ headers: FRESH }, { requestHeaders: [["Cookie", "a=b"]], expect: "not_cached" }],
  },
]);

registerCases("other", [
  {
    id: "query-args-different",
    kind: "required",
    steps: [{ path: "/q?test=1", headers: FRESH }, { path: "/q?test=2", expect: "not_cached" }],
  },
  {
    id: "query-args-same",
    kind: "optimal",
    steps: [{ path: "/q?test=1", headers: FRESH }, { path: "/q?test=1", expect: "cached" }],
  },
  // RFC 9110 §9.3.3 lets a POST response with Content-Location answer later GETs; not stored here.
  {
    id: "method-POST",
    kind: "deviation",
    steps: [
      { method: "POST", headers: [...FRESH, ["Content-Location", "/resource"]] },
      { expect: "not_cached" },
    ],
  },
]);
