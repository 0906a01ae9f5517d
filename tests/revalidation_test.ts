/**
 * What a revalidation may do to the stored response, and what a failed one serves: the 304 and
 * HEAD updates of RFC 9111 §4.3.4 and §4.3.5, a request's `no-store` (§5.2.1.5), and the origin's
 * errors met by a request that demands validation (§5.2.1.4, RFC 5861 §4). Against a scripted
 * origin and an injected clock.
 */
import { assertEquals, assertRejects } from "./_assert.ts";
import type { CacheEvent } from "../mod.ts";
import { reply } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";

Deno.test("RFC 9111 §5.2.1.4: a request that demands validation gets the origin's error, not the stored response", async (t) => {
  let down: "500" | "throw" | undefined;
  const s = setup((clock) => () => {
    if (down === "throw") throw new TypeError("fetch failed");
    if (down === "500") return reply("origin error", {}, { status: 500, clock });
    return reply("v1", { "cache-control": "max-age=600", etag: '"a"' }, { clock });
  });
  await s.get();
  s.clock.tick(10);
  const demands = {
    "no-cache": { headers: { "cache-control": "no-cache" } },
    "Pragma: no-cache": { headers: { pragma: "no-cache" } },
    "max-age=0": { headers: { "cache-control": "max-age=0" } },
    "min-fresh beyond the lifetime": { headers: { "cache-control": "min-fresh=6000" } },
    'cache: "no-cache"': { cache: "no-cache" as const },
  };
  await t.step("a 500 goes through, though the stored response is fresh", async () => {
    down = "500";
    for (const [name, init] of Object.entries(demands)) {
      const { response, body } = await s.get(init);
      assertEquals([response.status, body, response.fromCache], [500, "origin error", false], name);
    }
  });
  await t.step("a network error rejects", async () => {
    down = "throw";
    for (const init of Object.values(demands)) {
      await assertRejects(() => s.get(init), TypeError, "fetch failed");
    }
  });
  await t.step("without such a request the fresh response answers", async () => {
    assertEquals((await s.get()).body, "v1");
  });
  await s.session.close();
});

Deno.test("RFC 5861 §4: with a stale-if-error window a fresh response answers an error after a max-age=0 request, never after a no-cache one", async () => {
  let down = false;
  const s = setup((clock) => () => {
    if (down) return reply("origin error", {}, { status: 503, clock });
    return reply("v1", { "cache-control": "max-age=600", etag: '"a"' }, { clock });
  }, { staleIfError: 60 });
  await s.get();
  down = true;
  const reload = await s.get({ headers: { "cache-control": "max-age=0" } });
  assertEquals([reload.response.status, reload.body, reload.response.fromCache], [200, "v1", true]);
  for (const init of [{ headers: { "cache-control": "no-cache" } }, { cache: "no-cache" as const }]) {
    assertEquals((await s.get(init)).response.status, 503);
  }
  await s.session.close();
});

Deno.test("RFC 9111 §5.2.1.5: a request's no-store is neither answered from the cache nor stored, and leaves the stored response as it was", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.has("if-none-match")
      ? reply(null, { "cache-control": "max-age=600", etag: '"a"' }, { status: 304, clock })
      : reply(`v${n}`, { "cache-control": "max-age=60", etag: '"a"' }, { clock })
  );
  await s.get();
  const noStore = { headers: { "cache-control": "no-store" } };
  const fresh = await s.get(noStore);
  assertEquals([fresh.body, fresh.response.fromCache], ["v2", false]);
  s.clock.tick(100);
  const stale = await s.get(noStore);
  assertEquals([stale.body, stale.response.fromCache, stale.response.revalidated], ["v3", false, false]);
  assertEquals(s.origin.requests.map((request) => request.headers.has("if-none-match")), [
    false,
    false,
    false,
  ]);
  // The stored response is still v1, stale as before: revalidated now, and the 304 stored.
  const plain = await s.get();
  assertEquals([plain.body, plain.response.revalidated, s.origin.calls], ["v1", true, 4]);
  await s.session.close();
});

Deno.test("RFC 9110 §6.6.1: a response without Date is cached with a Date of when it was received", async () => {
  const s = setup(() => () => reply("x", { "cache-control": "max-age=60" }));
  const received = new Date(s.clock.now).toUTCString();
  await s.get();
  s.clock.tick(10);
  const { response } = await s.get();
  assertEquals([response.fromCache, response.headers.get("date"), response.headers.get("age")], [
    true,
    received,
    "10",
  ]);
  await s.session.close();
});

Deno.test("RFC 9110 §6.6.1: a 304 without Date is dated when it arrived, so the response it freshens is young again", async () => {
  const s = setup((clock) => (request) =>
    request.headers.has("if-none-match")
      ? new Response(null, { status: 304, headers: { "cache-control": "max-age=60", etag: '"a"' } })
      : reply("v1", { "cache-control": "max-age=60", etag: '"a"' }, { clock })
  );
  await s.get();
  s.clock.tick(300);
  const revalidated = await s.get();
  assertEquals([revalidated.response.revalidated, revalidated.response.headers.get("age")], [true, "0"]);
  assertEquals(revalidated.response.headers.get("date"), new Date(s.clock.now).toUTCString());
  s.clock.tick(5);
  const hit = await s.get();
  assertEquals([hit.response.fromCache, hit.response.revalidated, hit.response.headers.get("age")], [
    true,
    false,
    "5",
  ]);
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

Deno.test("RFC 9111 §5.2.2.4, §5.2.2.7: a field the stored response's qualified no-cache or private names is not stored when a 304 sends it", async (t) => {
  for (const [directive, shared] of [["no-cache", false], ["private", true]] as const) {
    await t.step(`${directive}="x-token"${shared ? ", shared cache" : ""}`, async () => {
      const s = setup(
        (clock) => (request) =>
          request.headers.has("if-none-match")
            ? reply(null, { etag: '"a"', "x-token": "secret-2" }, { status: 304, clock })
            : reply("v1", {
              "cache-control": `max-age=60, ${directive}="x-token"`,
              etag: '"a"',
              "x-token": "secret-1",
            }, { clock }),
        { shared },
      );
      await s.get();
      s.clock.tick(100);
      await s.get();
      const hit = await s.get();
      assertEquals([hit.response.fromCache, hit.response.headers.get("x-token"), s.origin.calls], [
        true,
        null,
        2,
      ]);
      await s.session.close();
    });
  }
});

Deno.test("RFC 9111 §3: a 304 that says no-store takes the stored response out of the cache", async () => {
  const events: CacheEvent[] = [];
  const s = setup(
    (clock) => (request, n) =>
      request.headers.has("if-none-match")
        ? reply(null, { "cache-control": "no-store", etag: '"a"' }, { status: 304, clock })
        : reply(`v${n}`, { "cache-control": "max-age=60", etag: '"a"' }, { clock }),
    { onEvent: (event) => events.push(event), cacheStatus: true },
  );
  await s.get();
  s.clock.tick(100);
  const revalidated = await s.get();
  assertEquals([revalidated.body, revalidated.response.revalidated], ["v1", true]);
  // RFC 9211 §2.5: not `stored`, since it is not.
  assertEquals(
    revalidated.response.headers.get("cache-status"),
    "http-cache; fwd=stale; fwd-status=304; ttl=0",
  );
  await s.session.close(); // waits for the delete
  assertEquals(await s.session.cache.count(), 0);
  assertEquals(events.filter((event) => event.type === "evict").map((event) => event.reason), ["unstorable"]);
});

Deno.test("RFC 9111 §4.3.5: a HEAD response freshens the stored response only when its validators and Content-Length all match", async (t) => {
  const cases = {
    "another Content-Length": { "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT", "content-length": "11" },
    "the same ETag but another Last-Modified": {
      etag: 'W/"x"',
      "last-modified": "Tue, 02 Jan 2024 00:00:00 GMT",
    },
  };
  for (const [name, head] of Object.entries(cases)) {
    await t.step(name, async () => {
      const s = setup((clock) => (request, n) =>
        request.method === "HEAD"
          ? reply(null, { "cache-control": "max-age=600", ...head }, { clock })
          : reply(`old${n}`, {
            "cache-control": "max-age=10",
            etag: 'W/"x"',
            "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT",
          }, { clock })
      );
      await s.get();
      s.clock.tick(20);
      await s.session.fetch(URL_A, { method: "HEAD" });
      const next = await s.get();
      assertEquals([next.body, next.response.fromCache], ["old3", false]);
      await s.session.close();
    });
  }
  await t.step("all match: freshened", async () => {
    const s = setup((clock) => (request) =>
      request.method === "HEAD"
        ? reply(null, { "cache-control": "max-age=600", etag: '"x"', "content-length": "3" }, { clock })
        : reply("old", { "cache-control": "max-age=10", etag: '"x"' }, { clock })
    );
    await s.get();
    s.clock.tick(20);
    await s.session.fetch(URL_A, { method: "HEAD" });
    const next = await s.get();
    assertEquals([next.body, next.response.fromCache, s.origin.calls], ["old", true, 2]);
    await s.session.close();
  });
});

Deno.test("RFC 9111 §4.3.4 (as browsers and cache-tests read it): a 304 without validators freshens the stored response the cache asked about", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.has("if-none-match")
      ? reply(null, { "cache-control": "max-age=3600" }, { status: 304, clock })
      : reply(`v${n}`, { "cache-control": "max-age=60", etag: `"v${n}"` }, { clock })
  );
  await s.get();
  s.clock.tick(120);
  const revalidated = await s.get();
  assertEquals([revalidated.body, revalidated.response.revalidated, s.origin.calls], ["v1", true, 2]);
  s.clock.tick(600);
  const hit = await s.get();
  // Fresh by the 304's max-age=3600 (undici and http-cache-semantics would ask the origin again).
  assertEquals([hit.body, hit.response.fromCache, s.origin.calls], ["v1", true, 2]);
  await s.session.close();
});
