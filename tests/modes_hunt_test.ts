/**
 * The fetch cache modes crossed with request and response directives and with what is stored: what
 * goes to the origin, what is served, and what is stored afterwards.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { CachedSession, type CacheEvent } from "../mod.ts";
import { origin, reply } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/** An origin that answers every request with a fresh 200, and counts them. */
function counted() {
  const server = origin(() => reply("origin", { "cache-control": "max-age=600" }));
  const events: CacheEvent[] = [];
  const session = new CachedSession({
    fetch: server.fetch,
    cacheStatus: true,
    onEvent: (event) => events.push(event),
    onError: () => {},
  });
  return { server, session, events };
}

// A request the cache does not handle (a method it does not store) went to the origin even when it
// asked for what is stored alone: a POST in the only-if-cached mode, or with that directive, was
// performed at the origin (RFC 9111 §5.2.1.7 wants a stored response or a 504; the README's mode
// table a 504 on a miss; Fetch a network error). A DO_NOT_CACHE bypass already answered 504.
Deno.test("a POST, PUT or DELETE that asks for only-if-cached gets a 504 and is never sent", async () => {
  const { server, session, events } = counted();
  for (const method of ["POST", "PUT", "DELETE"]) {
    const body = method === "DELETE" ? null : "x";
    for (
      const init of [{ cache: "only-if-cached" as const }, { headers: { "cache-control": "only-if-cached" } }]
    ) {
      const response = await session.fetch(URL_A, { method, body, ...init });
      assertEquals(
        [response.status, response.headers.get("cache-status"), await response.text()],
        [504, "http-cache; detail=only-if-cached", ""],
        `${method} ${JSON.stringify(init)}`,
      );
    }
  }
  assertEquals(server.calls, 0, "nothing reached the origin");
  assertEquals(
    events.map((event) => event.type === "miss" ? event.reason : event.type),
    Array(6).fill("only-if-cached"),
  );
  assertEquals([session.stats().misses, session.stats().bypassed], [6, 0]);
  await session.close();
});

// The same for the other requests the cache passes through: one with `integrity`, one whose
// `keyFn` failed, and any after `close()`.
Deno.test("an only-if-cached request the cache passes through (integrity, failed keyFn, closed) gets a 504", async () => {
  const server = origin(() => reply("origin", { "cache-control": "max-age=600" }));
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch: server.fetch,
    keyFn: (request, key) => {
      if (request.url.pathname === "/broken") throw new Error("no key");
      return key();
    },
    onError: (error) => errors.push(error),
  });
  const integrity = await session.fetch(URL_A, { cache: "only-if-cached", integrity: "sha256-abc" });
  assertEquals(integrity.status, 504, "integrity");
  const directive = await session.fetch(URL_A, {
    integrity: "sha256-abc",
    headers: { "cache-control": "only-if-cached" },
  });
  assertEquals(directive.status, 504, "integrity, directive");
  const broken = await session.fetch("http://127.0.0.1/broken", { cache: "only-if-cached" });
  assertEquals([broken.status, errors.length], [504, 1], "keyFn failed (and was reported)");
  await session.close();
  const closed = await session.fetch(URL_A, { cache: "only-if-cached" });
  assertEquals(closed.status, 504, "after close()");
  assertEquals(server.calls, 0, "nothing reached the origin");
  // (The same requests without only-if-cached still go to the origin.)
  const passed = await session.fetch(URL_A, { method: "POST", body: "x" });
  assertEquals([passed.status, await passed.text(), server.calls], [200, "origin", 1]);
});

// A reload of a URL with nothing stored said `fwd=request` ("a fresh response was stored, but the
// request did not allow its use", RFC 9211 §2.2) in Cache-Status and its miss event: it is a
// `uri-miss`, as the README's Cache-Status table has it.
Deno.test("a reload with nothing stored is a uri-miss; with a stored response, fwd=request", async () => {
  const events: CacheEvent[] = [];
  const s = scripted((clock) => () => reply("origin", { "cache-control": "max-age=600" }, { clock }), {
    cacheStatus: true,
    onEvent: (event) => events.push(event),
  });
  const first = await s.get({ cache: "reload" });
  assertEquals(
    first.response.headers.get("cache-status"),
    "http-cache; fwd=uri-miss; fwd-status=200; stored; ttl=600",
  );
  const second = await s.get({ cache: "reload" });
  assertEquals(
    second.response.headers.get("cache-status"),
    "http-cache; fwd=request; fwd-status=200; stored; ttl=600",
  );
  const reasons = events.flatMap((event) => event.type === "miss" ? [event.reason] : []);
  assertEquals(reasons, ["uri-miss", "request"]);
  await s.session.close();
});

/** What one request in a cache mode did: to the origin, to its caller, and to the store. */
interface Outcome {
  /** The requests the origin received: `cache-control;pragma;if-none-match`. */
  sent: string[];
  /** `body fromCache revalidated age`, or `504`. */
  served: string;
  /** What an only-if-cached request gets afterwards: the body stored, or `504`. */
  stored: string;
}

/**
 * The README's mode table, as fetch's HTTP-network-or-cache fetch specifies it, for an entry that is
 * absent, fresh, or stale with a validator (the origin answers its `If-None-Match` with a 304).
 */
const TABLE: Record<string, Record<"none" | "fresh" | "stale", Outcome>> = {
  "default": {
    none: { sent: ["null;null;null"], served: "v1 false false null", stored: "v1" },
    fresh: { sent: [], served: "v0 true false 5", stored: "v0" },
    stale: { sent: ['null;null;"e"'], served: "v0 true true 0", stored: "v0" },
  },
  "no-store": {
    none: { sent: ["no-cache;no-cache;null"], served: "v1 false false null", stored: "504" },
    fresh: { sent: ["no-cache;no-cache;null"], served: "v1 false false null", stored: "v0" },
    stale: { sent: ["no-cache;no-cache;null"], served: "v1 false false null", stored: "v0" },
  },
  "reload": {
    none: { sent: ["no-cache;no-cache;null"], served: "v1 false false null", stored: "v1" },
    fresh: { sent: ["no-cache;no-cache;null"], served: "v1 false false null", stored: "v1" },
    stale: { sent: ["no-cache;no-cache;null"], served: "v1 false false null", stored: "v1" },
  },
  "no-cache": {
    none: { sent: ["max-age=0;null;null"], served: "v1 false false null", stored: "v1" },
    fresh: { sent: ['max-age=0;null;"e"'], served: "v0 true true 0", stored: "v0" },
    stale: { sent: ['max-age=0;null;"e"'], served: "v0 true true 0", stored: "v0" },
  },
  "force-cache": {
    none: { sent: ["null;null;null"], served: "v1 false false null", stored: "v1" },
    fresh: { sent: [], served: "v0 true false 5", stored: "v0" },
    stale: { sent: [], served: "v0 true false 20", stored: "v0" },
  },
  "only-if-cached": {
    none: { sent: [], served: "504", stored: "504" },
    fresh: { sent: [], served: "v0 true false 5", stored: "v0" },
    stale: { sent: [], served: "v0 true false 20", stored: "v0" },
  },
};

// Not a bug found, the table the hunt checked every mode against (the fields fetch adds for the
// mode, the validator of a revalidation, where the answer came from, and what stays stored).
Deno.test("each cache mode, with nothing, a fresh or a stale response stored, does what fetch says", async () => {
  for (const [mode, states] of Object.entries(TABLE)) {
    for (const [state, expected] of Object.entries(states)) {
      let version = state === "none" ? 1 : 0;
      const s = scripted((clock) => (request) =>
        request.headers.get("if-none-match") === '"e"'
          ? reply(null, { "cache-control": "max-age=10", etag: '"e"' }, { status: 304, clock })
          : reply(`v${version++}`, { "cache-control": "max-age=10", etag: '"e"' }, { clock })
      );
      if (state !== "none") {
        await s.get();
        s.clock.tick(state === "fresh" ? 5 : 20);
      }
      const before = s.origin.calls;
      const { response, body } = await s.get({ cache: mode as RequestCache });
      const sent = s.origin.requests.slice(before).map((request) =>
        ["cache-control", "pragma", "if-none-match"].map((name) => String(request.headers.get(name))).join(
          ";",
        )
      );
      const served = response.status === 504
        ? "504"
        : `${body} ${response.fromCache} ${response.revalidated} ${response.headers.get("age")}`;
      const after = await s.get({ cache: "only-if-cached" });
      const stored = after.response.status === 504 ? "504" : after.body;
      assertEquals({ sent, served, stored }, expected, `${mode}, ${state}`);
      await s.session.close();
    }
  }
});
