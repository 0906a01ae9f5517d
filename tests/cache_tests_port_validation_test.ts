/**
 * Directives and validation, in the areas of the http-tests/cache-tests suite (re-expressed in our
 * own words): response and request directives, conditional requests, serving stale, and the
 * header fields the cache generates. Each case runs against a private and a shared
 * CachedSession unless it names one.
 */
import { type OriginHeader, type PortCase, registerCases, type Step } from "./_cache_tests_engine.ts";

const FRESH: OriginHeader[] = [["Cache-Control", "max-age=100000"]];

/** A fresh stored response, then a second request. */
function fresh(id: string, kind: PortCase["kind"], headers: OriginHeader[], second: Step): PortCase {
  return { id, kind, steps: [{ headers: [...FRESH, ...headers], wait: 3 }, second] };
}

registerCases("cc-response", [
  {
    id: "cc-resp-private-shared",
    kind: "required",
    only: "shared",
    steps: [{ headers: [["Cache-Control", "private, max-age=3600"]] }, { expect: "not_cached" }],
  },
  {
    id: "cc-resp-private-private",
    kind: "optimal",
    only: "private",
    steps: [{ headers: [["Cache-Control", "private, max-age=3600"]] }, { expect: "cached" }],
  },
  ...["no-store", "No-StOrE", "max-age=10000, no-store"].map((value): PortCase => ({
    id: `cc-resp-no-store (${value})`,
    kind: "required",
    steps: [{ headers: [["Cache-Control", value], ["Expires", 10000]] }, { expect: "not_cached" }],
  })),
  {
    id: "cc-resp-no-store-old-new",
    kind: "required",
    steps: [
      { headers: [["Cache-Control", "max-age=10000"], ["A", "1"]], wait: 3 },
      {
        requestHeaders: [["Cache-Control", "no-cache"]],
        headers: [["Cache-Control", "no-store"], ["A", "2"]],
      },
      { expect: "cached", expectHeaders: [["a", "1"]] },
    ],
  },
  ...["max-age=10000, no-cache", "max-age=10000, No-CaChE"].map((value): PortCase => ({
    id: `cc-resp-no-cache (${value})`,
    kind: "required",
    steps: [{ headers: [["Cache-Control", value], ["Expires", 10000]] }, { expect: "not_cached" }],
  })),
  {
    id: "cc-resp-no-cache-revalidate-fresh",
    kind: "optimal",
    steps: [{ headers: [["Cache-Control", "max-age=10000, no-cache"], ["ETag", '"abcd"']] }, {
      expect: "etag_validated",
    }],
  },
  {
    id: "headers-omit-headers-listed-in-Cache-Control-no-cache",
    kind: "optimal",
    steps: [
      {
        headers: [["Cache-Control", 'no-cache="a, b"'], ["a", "1"], ["b", "2"], ["c", "3"], [
          "Cache-Control",
          "max-age=3600",
        ]],
      },
      { expect: "cached", expectHeaders: [["c", "3"]], expectMissing: ["a", "b"] },
    ],
  },
  {
    id: "headers-omit-headers-listed-in-Connection",
    kind: "required",
    steps: [
      { headers: [...FRESH, ["Connection", "a, b"], ["a", "1"], ["b", "2"], ["c", "3"]] },
      { expect: "cached", expectHeaders: [["c", "3"]], expectMissing: ["a", "b"] },
    ],
  },
  {
    id: "cc-resp-must-revalidate-stale",
    kind: "required",
    steps: [
      { headers: [["Cache-Control", "max-age=2, must-revalidate"], ["ETag", '"abcd"']] },
      { expect: "cached", wait: 3 },
      { expect: "etag_validated" },
    ],
  },
]);

registerCases("cc-request", [
  fresh("ccreq-ma0", "required", [], {
    requestHeaders: [["Cache-Control", "max-age=0"]],
    expect: "not_cached",
  }),
  fresh("ccreq-min-fresh", "required", [], {
    requestHeaders: [["Cache-Control", "min-fresh=200000"]],
    expect: "not_cached",
  }),
  fresh("ccreq-no-cache", "required", [], {
    requestHeaders: [["Cache-Control", "no-cache"]],
    expect: "not_cached",
  }),
  fresh("ccreq-no-cache-etag", "required", [["ETag", '"abc"']], {
    requestHeaders: [["Cache-Control", "no-cache"]],
    expect: "etag_validated",
  }),
  {
    id: "ccreq-oic",
    kind: "required",
    steps: [{ requestHeaders: [["Cache-Control", "only-if-cached"]], expectStatus: 504, expectBody: "" }],
  },
]);

registerCases("pragma", [
  // RFC 9111 §5.4: Pragma counts only in a request without Cache-Control; this cache honours it there.
  fresh("pragma-request-no-cache", "deviation", [], {
    requestHeaders: [["Pragma", "no-cache"]],
    expect: "not_cached",
  }),
  fresh("pragma-request-no-cache with Cache-Control", "optimal", [], {
    requestHeaders: [["Pragma", "no-cache"], ["Cache-Control", "max-stale=10"]],
    expect: "cached",
  }),
  fresh("pragma-request-extension", "optimal", [], {
    requestHeaders: [["Pragma", "unrecognised-extension"]],
    expect: "cached",
  }),
  fresh("pragma-response-no-cache", "optimal", [["Pragma", "no-cache"]], { expect: "cached" }),
]);

registerCases("head", [
  fresh("head answered from a stored GET", "optimal", [["Template-A", "1"]], {
    method: "HEAD",
    expect: "cached",
    expectHeaders: [["template-a", "1"]],
    expectBody: "",
  }),
  {
    id: "head-writethrough",
    kind: "optimal",
    steps: [{ headers: [["Cache-Control", "max-age=2"], ["ETag", '"a"']], wait: 3 }, {
      method: "HEAD",
      headers: [["Cache-Control", "max-age=1000"], ["ETag", '"a"']],
      expect: "not_cached",
    }, { expect: "cached" }],
  },
]);

registerCases("conditional", [
  ...[['"abcdef"', '"abcdef"'], ['W/"abcdef"', 'W/"abcdef"'], ['"abcdef"', '"1234", "abcdef", "5678"']].map(
    ([etag, ifNoneMatch]): PortCase =>
      fresh(`conditional-etag-respond (${etag} / ${ifNoneMatch})`, "optimal", [["ETag", etag!]], {
        requestHeaders: [["If-None-Match", ifNoneMatch!]],
        expect: "cached",
        expectStatus: 304,
        expectHeaders: [["etag", etag!]],
        expectBody: "",
      }),
  ),
  fresh("conditional-etag-precedence", "required", [["ETag", '"abcdef"'], ["Last-Modified", -5000]], {
    requestHeaders: [["If-None-Match", '"other"'], ["If-Modified-Since", new Date().toUTCString()]],
    expect: "not_cached",
  }),
  {
    id: "conditional-lm-fresh",
    kind: "optimal",
    steps: [{ headers: [...FRESH, ["Last-Modified", -3000]], wait: 3 }, {
      requestHeaders: [["If-Modified-Since", new Date(Date.now() + 3600_000).toUTCString()]],
      expect: "cached",
      expectStatus: 304,
    }],
  },
  {
    id: "conditional-lm-stale",
    kind: "optimal",
    steps: [
      {
        headers: [["Cache-Control", "max-age=2"], ["Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"]],
        wait: 3,
      },
      {
        requestHeaders: [["If-Modified-Since", "Wed, 01 Jan 2020 00:00:00 GMT"]],
        headers: [["Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"]],
        expect: "lm_validated",
        expectStatus: 304,
      },
    ],
  },
  {
    id: "conditional-etag-forward",
    kind: "required",
    steps: [{
      requestHeaders: [["If-None-Match", '"abcdef"']],
      expectRequestHeaders: [["if-none-match", '"abcdef"']],
    }],
  },
  {
    id: "conditional-etag-vary-headers",
    kind: "required",
    steps: [
      {
        requestHeaders: [["Abc", "123"]],
        headers: [["Expires", 1], ["ETag", '"abcdef"'], ["Vary", "Abc"]],
        wait: 3,
      },
      { requestHeaders: [["Abc", "123"]], expect: "etag_validated", expectRequestHeaders: [["abc", "123"]] },
    ],
  },
  {
    id: "conditional-etag-strong-generate",
    kind: "optimal",
    steps: [{ headers: [["Cache-Control", "max-age=2"], ["ETag", '"abcdef"']], wait: 3 }, {
      expect: "etag_validated",
      expectRequestHeaders: [["if-none-match", '"abcdef"']],
    }],
  },
]);

registerCases("stale", [
  {
    id: "stale-while-revalidate",
    kind: "optimal",
    steps: [{
      headers: [["Cache-Control", "max-age=1, stale-while-revalidate=3600"], ["ETag", '"abc"']],
      wait: 3,
    }, {
      expect: "cached",
    }],
  },
  {
    id: "stale-while-revalidate-window",
    kind: "required",
    steps: [
      { headers: [["Cache-Control", "max-age=1, stale-while-revalidate=4"], ["ETag", '"abc"']], wait: 3 },
      { headers: [["Cache-Control", "no-cache"], ["ETag", '"def"']], expect: "cached", wait: 3 },
      { expect: "not_cached" },
    ],
  },
  ...["must-revalidate", "no-cache"].map((directive): PortCase => ({
    id: `stale-close-${directive}`,
    kind: "required",
    options: { staleIfError: true },
    steps: [{ headers: [["Cache-Control", `max-age=2, ${directive}`]], wait: 3 }, {
      networkError: true,
      expect: "error",
    }],
  })),
  ...["proxy-revalidate", "s-maxage=2"].map((directive): PortCase => ({
    id: `stale-close-${directive}`,
    kind: "required",
    only: "shared",
    options: { staleIfError: true },
    steps: [{ headers: [["Cache-Control", `max-age=2, ${directive}`]], wait: 3 }, {
      networkError: true,
      expect: "error",
    }],
  })),
  {
    id: "stale-sie-close",
    kind: "optimal",
    steps: [{ headers: [["Cache-Control", "max-age=2, stale-if-error=60"]], wait: 3 }, {
      networkError: true,
      expect: "cached",
    }],
  },
]);

registerCases("other", [
  fresh("other-age-gen", "required", [], { expect: "cached", expectHeaders: [["age", ">", 2]] }),
  fresh("other-age-update-max-age", "required", [["Age", "30"]], {
    expect: "cached",
    expectHeaders: [["age", ">", 32]],
  }),
  fresh("other-date-update", "required", [], { expect: "cached", expectHeaders: [["date", "=", 0]] }),
  fresh("other-set-cookie", "optimal", [["Set-Cookie", "a=b"]], { expect: "cached" }),
]);
