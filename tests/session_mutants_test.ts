/**
 * The session's flow and what it reports (`exchange.ts`, `cache_access.ts`, `session.ts`,
 * `monitor.ts`, `cache_status.ts`, `inspection.ts`): behaviour that mutation testing of that code
 * found no test for. Each test pins one observable behaviour and names the mutant it kills.
 * Against a scripted origin and an injected clock, as `http_semantics_test.ts`.
 */
import { assertEquals } from "./_assert.ts";
import { Switched, until } from "./_fixtures.ts";
import { reply } from "./_origin.ts";
import { refreshing, scripted as setup, URL_A } from "./_scripted.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";

// RFC 5861 §4: stale-if-error answers "an error ... that would result in a 500, 502, 503, or 504
// HTTP response status code": a 501 (or 505) is an answer, passed on.
// Kills src/exchange.ts:153 `ERROR_STATUSES.has(response.status)` -> `response.status >= 500`.
Deno.test("stale-if-error: a 501 from the origin is passed on, not answered with the stale response", async () => {
  const s = setup((clock) => (_r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=10, stale-if-error=600" }, { clock })
      : reply("not implemented", {}, { status: 501, clock })
  );
  await s.get();
  s.clock.tick(20);
  const error = await s.get();
  assertEquals([error.response.status, error.body, error.response.fromCache], [
    501,
    "not implemented",
    false,
  ]);
  await s.session.close();
});

// RFC 9111 §4.3.5 freshens a stored response from a HEAD response, which is a 200: a HEAD
// answered with an error neither freshens the stored GET response (whatever freshness the error
// claims) nor removes it; the next GET revalidates it.
// Kills src/exchange.ts:182 `response.status === 200` dropped (the 404 freshens the stored 200),
// src/exchange.ts:205 `cached?.method === flow.method` dropped (the 404 deletes it) and
// src/exchange.ts:196 the HEAD-beside-a-GET condition dropped (the 404 is stored under the HEAD's key).
Deno.test("a HEAD answered with a 404 neither freshens nor deletes the stored GET response", async () => {
  const s = setup((clock) => (request, n) =>
    request.method === "HEAD"
      ? reply(null, { "cache-control": "max-age=600" }, { status: 404, clock })
      : request.headers.get("if-none-match") === '"a"'
      ? reply(null, { etag: '"a"', "cache-control": "max-age=10" }, { status: 304, clock })
      : reply(`v${n}`, { etag: '"a"', "cache-control": "max-age=10" }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const head = await s.session.fetch(URL_A, { method: "HEAD" });
  assertEquals([head.status, head.fromCache], [404, false]);
  // (Nor is the 404 stored on its own: a stored GET response answers the HEADs.)
  assertEquals(await s.session.cache.count(), 1);
  const next = await s.get();
  assertEquals([next.body, next.response.fromCache, s.origin.calls], ["v1", true, 3]);
  assertEquals(s.origin.requests[2]!.headers.get("if-none-match"), '"a"');
  await s.session.close();
});

// RFC 9111 §4.3.3 handles a 304 as the answer to a conditional request; a stored response
// without validators is asked for unconditionally, and a 304 to that selects nothing: it goes to
// the caller as the origin sent it, and the stored body is not served as if revalidated.
// Kills src/exchange.ts:160 `&& conditional` dropped.
Deno.test("a 304 to a request the cache sent unconditionally is passed on, not taken as a revalidation", async () => {
  const s = setup((clock) => (_r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=10" }, { clock })
      : reply(null, { "cache-control": "max-age=600" }, { status: 304, clock })
  );
  await s.get();
  s.clock.tick(20);
  const second = await s.get();
  assertEquals([second.response.status, second.body, second.response.fromCache], [304, "", false]);
  assertEquals(s.origin.requests[1]!.headers.has("if-none-match"), false);
  await s.session.close();
});

// A newer answer that may not be stored supersedes a stale stored response (it is served stale no
// more, even on stale-if-error) when it says something of the resource: a success or a redirect,
// a 404 or a 410. A client error that says nothing of it (400) leaves it, and so does a 206 to a
// Range request, a part of the representation.
// Kills src/exchange.ts:206 `response.status < 400` -> `<= 400`, `|| response.status === 404`
// dropped, `|| response.status === 410` dropped, and `&& response.status !== 206` dropped.
Deno.test("a newer unstored answer supersedes a stale stored response unless it is a 400 or a partial answer", async () => {
  const cases: [number, boolean, Record<string, string>][] = [
    [204, false, {}],
    [400, true, {}],
    [404, false, {}],
    [410, false, {}],
    [206, true, { range: "bytes=0-0" }],
  ];
  for (const [status, kept, headers] of cases) {
    const s = setup((clock) => (_r, n) =>
      n === 1
        ? reply("v1", { "cache-control": "max-age=10, stale-if-error=600" }, { clock })
        : n === 2
        ? reply(
          status === 204 ? null : "x",
          { "cache-control": "no-store", "content-range": "bytes 0-0/2" },
          {
            status,
            clock,
          },
        )
        : reply("down", {}, { status: 503, clock })
    );
    await s.get();
    s.clock.tick(20);
    assertEquals((await s.get({ headers })).response.status, status);
    const next = await s.get();
    assertEquals(
      `${next.response.status} ${next.response.fromCache} ${next.body}`,
      kept ? "200 true v1" : "503 false down",
      String(status),
    );
    await s.session.close();
  }
});

// A stored response is stale from the moment its lifetime ends (RFC 9111 §4.2: fresh while
// freshness_lifetime > current_age): an unstored answer that arrives at that very moment
// supersedes it.
// Kills src/exchange.ts:205 `cached.expiresAt <= responseTime` -> `<`.
Deno.test("an unstored answer that arrives the moment the stored response expires supersedes it", async () => {
  const s = setup((clock) => (_r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=10, stale-if-error=600" }, { clock })
      : n === 2
      ? reply("v2", { "cache-control": "no-store" }, { clock })
      : reply("down", {}, { status: 503, clock })
  );
  await s.get();
  s.clock.tick(10);
  assertEquals((await s.get()).body, "v2");
  const next = await s.get();
  assertEquals([next.response.status, next.body], [503, "down"]);
  await s.session.close();
});

// A newer response too large to store (declared so by its Content-Length, or found so as its body
// streams) supersedes the stale stored one as an unstored answer does: it is not served stale
// after it, even on stale-if-error.
// Kills src/exchange.ts:215 `this.#access.replacedUnstored(...)` dropped (a declared length over
// the bound) and src/exchange.ts:221 the same call dropped (a body found over the bound).
Deno.test("a newer response too large to store takes the stale stored one out, whether its length is declared or not", async () => {
  for (const declared of [true, false]) {
    const large = "x".repeat(500);
    const s = setup((clock) => (_r, n) => {
      if (n === 1) return reply("v1", { "cache-control": "max-age=10, stale-if-error=600" }, { clock });
      if (n === 3) return reply("down", {}, { status: 503, clock });
      const fields = { "cache-control": "max-age=10" };
      // (A stream has no declared length.)
      return declared
        ? reply(large, { ...fields, "content-length": "500" }, { clock })
        : new Response(new Response(large).body, { headers: fields });
    }, { backend: new MemoryBackend({ maxEntrySize: 200 }) });
    await s.get();
    s.clock.tick(20);
    const second = await s.get();
    assertEquals([second.body, second.response.headers.has("content-length")], [large, declared]);
    const third = await s.get();
    assertEquals([third.response.status, third.body], [503, "down"], `declared: ${declared}`);
    await s.session.close();
  }
});

// RFC 5861 §3: each time the stored response is served stale within stale-while-revalidate, a
// refresh is made unless one is under way: one that has ended lets the next start.
// Kills src/exchange.ts:285 `.finally(() => this.#refreshing.delete(found.key))` dropped.
Deno.test("stale-while-revalidate: once a refresh has ended, the next stale hit refreshes again", async () => {
  const s = refreshing((clock) => (_r, n) =>
    reply(`v${n}`, { "cache-control": "max-age=10, stale-while-revalidate=600" }, { clock })
  );
  assertEquals(await s.served(), "v1:false");
  s.clock.tick(20);
  assertEquals(await s.served(), "v1:true");
  s.clock.tick(20);
  assertEquals(await s.served(), "v2:true");
  assertEquals([await s.served(), s.origin.calls], ["v3:true", 3]);
  await s.session.close();
});

// RFC 9111 §4.4: a response asked for before an invalidation of its URL is not stored after it.
// Nothing is then written, nor refused: the `evict` events tell of the invalidation alone, not of
// an entry the storage would not take (docs/inspection.md: `unstorable`).
// Kills src/cache_access.ts:192 `refused && found.occupied !== false` -> `found.occupied !== false`.
Deno.test("a response not written because its URL was invalidated on its way sends no unstorable evict event", async () => {
  const { promise: gate, resolve: release } = Promise.withResolvers<void>();
  const events: string[] = [];
  const s = setup((clock) => async (request, n) => {
    if (request.method === "POST") return reply("posted", {}, { clock });
    if (n > 1) await gate;
    return reply(`v${n}`, { "cache-control": "max-age=10" }, { clock });
  }, { onEvent: (event) => event.type === "evict" && events.push(event.reason) });
  await s.get();
  s.clock.tick(20);
  const pending = s.get();
  await until(() => s.origin.calls === 2);
  await (await s.session.fetch(URL_A, { method: "POST", body: "x" })).text();
  release();
  assertEquals((await pending).body, "v2");
  await s.session.close(); // (waits for the write)
  assertEquals(events, ["invalidated"]);
});

// A response too large to store replaces what the request found: where it found nothing, nothing is
// deleted, and no `evict` event tells of a removal that did not happen.
// Kills src/cache_access.ts:240 `if (mayHoldEntry(flow, found))` -> `if (true)`.
Deno.test("a miss too large to store sends no evict event", async () => {
  const events: string[] = [];
  const s = setup(
    (clock) => () =>
      reply("x".repeat(500), { "cache-control": "max-age=10", "content-length": "500" }, { clock }),
    {
      backend: new MemoryBackend({ maxEntrySize: 200 }),
      onEvent: (event) => events.push(event.type),
    },
  );
  assertEquals((await s.get()).body.length, 500);
  await s.session.close();
  assertEquals(events, ["miss"]);
});

// docs: once closed, a session still sends an unsafe request's invalidation (a delete) to the
// storage, and a delete that fails is still reported: it is an invalidation lost, which a later
// session could serve.
// Kills src/cache_access.ts:444 `this.#closed && operation !== "delete"` -> `this.#closed`.
Deno.test("after close, a failed invalidation is still reported to onError", async () => {
  const storage = new Switched(new MemoryStorage());
  const operations: string[] = [];
  const s = setup((clock) => () => reply("x", { "cache-control": "max-age=600" }, { clock }), {
    backend: new CacheBackend(storage),
    onError: (_error, context) => operations.push(context.operation),
  });
  await s.get();
  await s.session.close();
  storage.down = true;
  await (await s.session.fetch(URL_A, { method: "POST", body: "x" })).text();
  assertEquals(operations, ["delete"]);
});

// A request with subresource integrity goes to the network unhandled: the cache cannot check the
// metadata, which fetch checks on the response it gets.
// Kills src/session.ts:161 `parsed.integrity !== "" ||` dropped.
Deno.test("a request with integrity metadata bypasses the cache", async () => {
  const s = setup((clock) => (_r, n) => reply(`v${n}`, { "cache-control": "max-age=600" }, { clock }));
  const integrity = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  await s.get({ integrity });
  const second = await s.get({ integrity });
  assertEquals([second.body, second.response.fromCache, s.session.stats().bypassed], ["v2", false, 2]);
  assertEquals(await s.session.cache.count(), 0);
  await s.session.close();
});

// Requests made once close() was called go to the network unhandled: counted as bypassed, not as
// misses (`CacheStats.bypassed`: "requests the cache did not handle").
// Kills src/session.ts:264 `this.#closed = true` dropped from close().
Deno.test("a request after close is counted as bypassed, not as a miss", async () => {
  const s = setup((clock) => (_r, n) => reply(`v${n}`, { "cache-control": "max-age=600" }, { clock }));
  await s.get();
  await s.session.close();
  const after = await s.get();
  const { misses, bypassed } = s.session.stats();
  assertEquals([after.body, after.response.fromCache, misses, bypassed], ["v2", false, 1, 1]);
});

// RFC 9211 §2: a cache appends its member to the Cache-Status field; an origin's empty field holds
// no member to put it after.
// Kills src/cache_status.ts:82 `existing === null || existing === ""` -> `existing === null`.
Deno.test("Cache-Status: the member is the whole field when the origin sent it empty", async () => {
  const s = setup((clock) => () => reply("x", { "cache-status": "" }, { clock }), { cacheStatus: true });
  const { response } = await s.get();
  assertEquals(response.headers.get("cache-status"), "http-cache; fwd=uri-miss; fwd-status=200");
  await s.session.close();
});

// RFC 8941: a cache name is written bare when it is an sf-token, which may begin with "*"
// (§3.3.4), else as an sf-string, where a backslash is escaped as well as a double quote (§3.3.3).
// Kills src/cache_status.ts:105 `[A-Za-z*]` -> `[A-Za-z]` and :106 `/[\\"]/g` -> `/["]/g`.
Deno.test("Cache-Status: a cache name that is a token is written bare, with * first; any other quoted, backslashes escaped", async () => {
  const names: [string, string][] = [["*edge", "*edge"], ['a\\b "c"', '"a\\\\b \\"c\\""']];
  for (const [name, member] of names) {
    const s = setup((clock) => () => reply("x", {}, { clock }), { cacheStatus: name });
    const { response } = await s.get();
    assertEquals(response.headers.get("cache-status"), `${member}; fwd=uri-miss; fwd-status=200`);
    await s.session.close();
  }
});

// RFC 9211 §2.2: fwd=vary-miss when "the cache did not have a response whose Vary matched", though
// one was stored for the URL; fwd=uri-miss is for a URL with nothing stored.
// Kills src/cache_status.ts:125 `return "vary-miss"` -> `return "uri-miss"`.
Deno.test("Cache-Status: a request that matches no stored Vary variant is a vary-miss", async () => {
  const s = setup((clock) => (request) =>
    reply(request.headers.get("accept-language") ?? "none", {
      "cache-control": "max-age=600",
      vary: "accept-language",
    }, { clock }), { cacheStatus: true });
  const first = await s.get({ headers: { "accept-language": "en" } });
  const other = await s.get({ headers: { "accept-language": "fr" } });
  assertEquals([first.response.headers.get("cache-status"), other.response.headers.get("cache-status")], [
    "http-cache; fwd=uri-miss; fwd-status=200; stored; ttl=600",
    "http-cache; fwd=vary-miss; fwd-status=200; stored; ttl=600",
  ]);
  await s.session.close();
});

// RFC 9211 §2.2 and §2.6: a request that waited for an identical revalidation of a stale response
// was forwarded for the same reason as that one: fwd=stale, and collapsed.
// Kills src/session.ts:216 `collapsed = forwardReason(...)` -> `collapsed = "uri-miss"`.
Deno.test("Cache-Status: a request that waited for the revalidation of a stale response says fwd=stale and collapsed", async () => {
  const { promise: gate, resolve: release } = Promise.withResolvers<void>();
  const s = setup((clock) => async (_r, n) => {
    if (n === 1) return reply("v1", { "cache-control": "max-age=10", etag: '"a"' }, { clock });
    await gate;
    return reply(null, { "cache-control": "max-age=10", etag: '"a"' }, { status: 304, clock });
  }, { cacheStatus: true });
  await s.get();
  s.clock.tick(20);
  const first = s.get();
  const second = s.get();
  await until(() => s.origin.calls === 2);
  release();
  const statuses = [await first, await second].map(({ response }) => response.headers.get("cache-status"));
  assertEquals(statuses, [
    "http-cache; fwd=stale; fwd-status=304; stored; ttl=10",
    "http-cache; fwd=stale; collapsed; ttl=10",
  ]);
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

// CacheStats.staleServed counts responses served stale; a stale response that a 304 revalidated is
// served as validated, even when the 304 gives it no freshness (max-age=0), and counts in
// revalidations.notModified alone.
// Kills src/monitor.ts:97 `&& how !== "revalidated"` dropped, and src/monitor.ts:114 the hit
// event's `stale: stale && how !== "revalidated"` -> `stale`.
Deno.test("stats: a stale response revalidated by a 304 is not counted as served stale", async () => {
  const hits: { stale: boolean; revalidated: boolean }[] = [];
  const s = setup(
    (clock) => (_r, n) =>
      n === 1
        ? reply("v1", { "cache-control": "max-age=10", etag: '"a"' }, { clock })
        : reply(null, { "cache-control": "max-age=0", etag: '"a"' }, { status: 304, clock }),
    {
      onEvent: (event) => {
        if (event.type === "hit") hits.push({ stale: event.stale, revalidated: event.revalidated });
      },
    },
  );
  await s.get();
  s.clock.tick(20);
  assertEquals((await s.get()).body, "v1");
  const { staleServed, revalidations } = s.session.stats();
  assertEquals([staleServed, revalidations.notModified], [0, 1]);
  assertEquals(hits, [{ stale: false, revalidated: true }]);
  await s.session.close();
});

// RFC 9111 §4.2: a stored response is fresh while its lifetime exceeds its age; at the moment it
// expires, it is stale, and a request sent for it then is forwarded as fwd=stale (RFC 9211 §2.2),
// and a response served at that moment under max-stale counts as served stale.
// Kills src/cache_status.ts:126 `expiresAt > now` -> `>=` and src/monitor.ts:91
// `entry.expiresAt <= now` -> `<`.
Deno.test("Cache-Status and stats: a stored response is stale at the very moment it expires", async () => {
  const s = setup((clock) => (_r, n) => reply(`v${n}`, { "cache-control": "max-age=10" }, { clock }), {
    cacheStatus: true,
  });
  await s.get();
  s.clock.tick(10);
  const accepted = await s.get({ headers: { "cache-control": "max-stale=60" } });
  assertEquals([accepted.body, s.session.stats().staleServed], ["v1", 1]);
  const forwarded = await s.get();
  assertEquals(
    forwarded.response.headers.get("cache-status"),
    "http-cache; fwd=stale; fwd-status=200; stored; ttl=10",
  );
  await s.session.close();
});

// CacheStats.revalidations counts the conditional requests the origin answered "foreground and
// background": a stale-while-revalidate refresh answered with a new response is one `modified`.
// Kills src/monitor.ts:143 `if (conditional) c.modified++` moved after the background return.
Deno.test("stats: a background refresh answered with a new response counts as modified", async () => {
  const s = refreshing((clock) => (_r, n) =>
    reply(`v${n}`, { "cache-control": "max-age=10, stale-while-revalidate=600", etag: `"${n}"` }, { clock })
  );
  await s.served();
  s.clock.tick(20);
  assertEquals(await s.served(), "v1:true");
  assertEquals(s.session.stats().revalidations, { notModified: 0, modified: 1 });
  await s.session.close();
});

// CacheStats.backendErrors counts backend failures; a failure of the user's own code (a filter that
// throws) goes to onError but is no backend's.
// Kills src/monitor.ts:226 `if (error instanceof BackendError)` dropped.
Deno.test("stats: a filter that throws is reported, but not counted as a backend error", async () => {
  const errors: unknown[] = [];
  const s = setup((clock) => () => reply("x", { "cache-control": "max-age=600" }, { clock }), {
    filter: () => {
      throw new Error("filter bug");
    },
    onError: (error) => errors.push(error),
  });
  await s.get();
  assertEquals([errors.length, s.session.stats().backendErrors], [1, 0]);
  await s.session.close();
});

// RFC 9211 §2.4: ttl is the remaining freshness "in seconds"; a fraction of a second left is not
// a whole one: it is rounded down.
// Kills src/monitor.ts:261 `Math.floor((entry.expiresAt - now) / 1000)` -> `Math.round(...)`.
Deno.test("Cache-Status: ttl counts whole seconds of freshness left, rounded down", async () => {
  const s = setup((clock) => () => reply("x", { "cache-control": "max-age=10" }, { clock }), {
    cacheStatus: true,
  });
  await s.get();
  s.clock.tick(0.4);
  const { response } = await s.get();
  assertEquals(response.headers.get("cache-status"), "http-cache; hit; ttl=9");
  await s.session.close();
});
