/**
 * Stored header fields, in the areas of the http-tests/cache-tests suite (re-expressed in our own
 * words): which fields a cache stores, and which a `304` updates. Each case runs against a private
 * and a shared CachedSession.
 */
import { type OriginHeader, type PortCase, registerCases, type Step } from "./_cache_tests_engine.ts";

const FRESH: OriginHeader[] = [["Cache-Control", "max-age=100000"]];

/** A fresh stored response, then a second request. */
function fresh(id: string, kind: PortCase["kind"], headers: OriginHeader[], second: Step): PortCase {
  return { id, kind, steps: [{ headers: [...FRESH, ...headers], wait: 3 }, second] };
}

/** A stale stored response with `name: a`, revalidated by a 304 carrying `name: b`. */
function update304(name: string, a: string, b: string, updated: boolean): PortCase {
  const base = (value: string): OriginHeader[] =>
    name === "Cache-Control"
      ? [[name, value], ["ETag", '"v1"']]
      : [[name, value], ["Cache-Control", "max-age=2"], [
        "ETag",
        '"v1"',
      ]];
  const expected = updated ? b : a;
  return {
    id: `304-etag-update-response-${name}`,
    kind: "required",
    steps: [
      { headers: base(a), wait: 3 },
      { headers: base(b), expect: "etag_validated", expectHeaders: [[name.toLowerCase(), expected]] },
      { expect: "cached", expectHeaders: [[name.toLowerCase(), expected]] },
    ],
  };
}

registerCases("update304", [
  {
    id: "304 without Age: the age restarts from the 304",
    kind: "required",
    steps: [
      { headers: [["Cache-Control", "max-age=100"], ["Age", "90"], ["ETag", '"v1"']], wait: 20 },
      { headers: [["Cache-Control", "max-age=100"], ["ETag", '"v1"']], expect: "etag_validated", wait: 50 },
      { expect: "cached", expectHeaders: [["age", "50"]] },
    ],
  },
  {
    id: "304-lm-use-stored-Test-Header",
    kind: "required",
    steps: [
      {
        headers: [["Cache-Control", "max-age=2"], ["Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"], [
          "Test-Header",
          "A",
        ]],
        wait: 3,
      },
      {
        headers: [["Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"]],
        expect: "lm_validated",
        expectHeaders: [["test-header", "A"]],
      },
    ],
  },
  update304("Test-Header", "A", "B", true),
  update304("X-Content-Foo", "A", "B", true),
  update304("Cache-Control", "max-age=1", "max-age=3600", true),
  update304("Content-Type", "text/plain", "text/plain;charset=utf-8", true),
  update304("Content-Location", "/foo", "/bar", true),
  update304("Expires", "Fri, 01 Jan 2038 01:01:01 GMT", "Mon, 11 Jan 2038 11:11:11 GMT", true),
  update304("X-Frame-Options", "deny", "sameorigin", true),
  // RFC 9111 §3.2: fields describing the stored content are kept.
  update304("Content-Encoding", "A", "B", false),
  update304("Content-MD5", "rL0Y20zC+Fzt72VPzMSk2A==", "N7UdGUp1E+RbVvZSTy1R8g==", false),
  update304("Content-Range", "bytes 0-1/2", "bytes 0-0/2", false),
]);

const STORED = [
  "Test-Header",
  "Content-Foo",
  "Content-Location",
  "Content-MD5",
  "Content-Security-Policy",
  "Clear-Site-Data",
  "X-Frame-Options",
];
const NOT_STORED = [
  "Connection",
  "Keep-Alive",
  "Proxy-Authenticate",
  "Proxy-Authentication-Info",
  "Proxy-Authorization",
  "Proxy-Connection",
  "TE",
  "Upgrade",
];

registerCases("headers", [
  ...STORED.map((name) =>
    fresh(`headers-store-${name}`, "required", [[name, "stored-value"]], {
      expect: "cached",
      expectHeaders: [[name, "stored-value"]],
    })
  ),
  ...NOT_STORED.map((name) =>
    fresh(`headers-store-${name}`, "required", [[name, "hop-value"]], {
      expect: "cached",
      expectMissing: [name],
    })
  ),
  // storeSetCookie is off by default: a cached Set-Cookie (or the obsolete Set-Cookie2, which
  // sets one too) would replay one client's cookie.
  ...["Set-Cookie", "Set-Cookie2"].flatMap((name) => [
    fresh(`headers-store-${name}`, "deviation", [[name, "a=b"]], {
      expect: "cached",
      expectMissing: [name.toLowerCase()],
    }),
    {
      ...fresh(`headers-store-${name} (storeSetCookie)`, "required", [[name, "a=b"]], {
        expect: "cached",
        expectHeaders: [[name.toLowerCase(), "a=b"]],
      }),
      options: { storeSetCookie: true },
    },
  ]),
]);
