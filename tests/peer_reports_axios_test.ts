/**
 * Cache-correctness bugs reported against peer libraries (axios-cache-interceptor,
 * cacheable-request / got and its http-cache-semantics, node-fetch-cache, and a few fetch
 * memoizers), each checked against this cache. Every test asserts what RFC 9111 / RFC 5861, the
 * Fetch standard or our docs say is right, so it fails if we have the peer's bug.
 */
import { gzipSync } from "node:zlib";
import { assert, assertEquals } from "./_assert.ts";
import { CachedSession } from "../mod.ts";
import { delay, loopback, until } from "./_fixtures.ts";
import { Clock, reply, settle } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";

const FRESH = { "cache-control": "max-age=60", "content-type": "text/plain" };

/** Rejects when `ms` pass first: a hang fails the test instead of the whole run. */
function withinSeconds<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Waits for `signal` to abort or `until` to resolve, whichever comes first. */
function abortedOr(signal: AbortSignal, until: Promise<void>): Promise<"aborted" | "released"> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve("aborted");
    signal.addEventListener("abort", () => resolve("aborted"), { once: true });
    until.then(() => resolve("released"));
  });
}

// ---------------------------------------------------------------------------------------------
// Revalidation and 304 handling
// ---------------------------------------------------------------------------------------------

Deno.test("got#445: a 304 must not overwrite the stored 200 (later requests still get the body)", async () => {
  const t = setup((clock) => (_request, n) =>
    n === 1
      ? reply("hello", { "cache-control": "max-age=1", etag: '"v1"' }, { clock })
      : reply(null, { "cache-control": "max-age=1", etag: '"v1"' }, { status: 304, clock })
  );
  assertEquals((await t.get()).body, "hello");
  t.clock.tick(5);
  const second = await t.get();
  assertEquals(t.origin.requests[1]!.headers.get("if-none-match"), '"v1"', "revalidation is conditional");
  assertEquals(second.response.status, 200, "the caller gets the stored 200, not the 304");
  assertEquals(second.body, "hello", "body after the first 304");
  assertEquals(second.response.revalidated, true);
  t.clock.tick(5);
  const third = await t.get();
  assertEquals(third.response.status, 200);
  assertEquals(third.body, "hello", "body after the second 304 (entry not replaced by an empty 304)");
  const fourth = await t.get();
  assertEquals(fourth.body, "hello", "fresh hit after the 304 freshened the entry");
  assertEquals(t.origin.calls, 3);
  await t.session.close();
});

Deno.test("axios-cache-interceptor#49: a 304 with a new max-age freshens the entry (no revalidation on every request)", async () => {
  const t = setup((clock) => (_request, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=1", etag: '"v1"', "x-version": "1" }, { clock })
      : reply(null, { "cache-control": "max-age=100", etag: '"v1"', "x-version": "2" }, {
        status: 304,
        clock,
      })
  );
  await t.get();
  t.clock.tick(5);
  const revalidated = await t.get();
  assertEquals(revalidated.body, "v1");
  assertEquals(
    revalidated.response.headers.get("x-version"),
    "2",
    "304 header fields replace the stored ones (§4.3.4)",
  );
  t.clock.tick(50);
  const hit = await t.get();
  assertEquals(hit.response.fromCache, true, "fresh for 100 s after the 304");
  assertEquals(hit.response.headers.get("x-version"), "2", "the updated header was stored");
  assertEquals(t.origin.calls, 2, "no third origin request");
  await t.session.close();
});

Deno.test("http-cache-semantics#26 (cacheable-request/got): a 304 without Content-Encoding must not leave a gzip body served raw or re-decoded", async () => {
  const PLAIN = "compressible ".repeat(200);
  const GZ = gzipSync(new TextEncoder().encode(PLAIN));
  const server = await loopback((request, response) => {
    if (request.headers["if-none-match"] === '"gz1"') {
      // A 304 that names no Content-Encoding at all, and one with a bogus Content-Length.
      response.writeHead(304, { etag: '"gz1"', "cache-control": "max-age=1", "content-length": "999" }).end();
      return;
    }
    response.writeHead(200, {
      etag: '"gz1"',
      "cache-control": "max-age=1",
      "content-type": "text/plain",
      "content-encoding": "gzip",
      "content-length": String(GZ.length),
    }).end(GZ);
  });
  const clock = new Clock();
  const session = new CachedSession({ fetch, now: clock.fn });
  try {
    const url = `${server.url}/gz`;
    const plain = await (await fetch(url)).text();
    assertEquals(plain, PLAIN, "plain fetch decodes gzip");
    const first = await session.fetch(url);
    const encoding = first.headers.get("content-encoding");
    assertEquals(await first.text(), PLAIN, "miss");
    const hit = await session.fetch(url);
    assertEquals(await hit.text(), PLAIN, "fresh hit");
    clock.tick(5);
    const revalidated = await session.fetch(url);
    assertEquals(revalidated.revalidated, true);
    assertEquals(await revalidated.text(), PLAIN, "after the 304");
    assertEquals(
      revalidated.headers.get("content-encoding"),
      encoding,
      "Content-Encoding kept through the 304",
    );
    const after = await session.fetch(url);
    assertEquals(await after.text(), PLAIN, "hit after the 304");
    assertEquals(after.headers.get("content-encoding"), encoding);
    assert(
      after.headers.get("content-length") !== "999",
      "a 304's Content-Length never updates the stored one (§3.2)",
    );
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("axios-cache-interceptor#822: a must-revalidate entry is kept when stale and revalidated with its ETag", async () => {
  const t = setup((clock) => (request, n) =>
    n === 1
      ? reply("big body", { "cache-control": "max-age=1, must-revalidate", etag: '"m1"' }, { clock })
      : request.headers.get("if-none-match") === '"m1"'
      ? reply(null, { "cache-control": "max-age=1, must-revalidate", etag: '"m1"' }, { status: 304, clock })
      : reply("refetched", { "cache-control": "max-age=1, must-revalidate", etag: '"m2"' }, { clock })
  );
  await t.get();
  t.clock.tick(5);
  const second = await t.get();
  assertEquals(
    t.origin.requests[1]!.headers.get("if-none-match"),
    '"m1"',
    "conditional request with the stored ETag",
  );
  assertEquals(second.body, "big body");
  assertEquals(second.response.revalidated, true);
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// Freshness: header interpretation
// ---------------------------------------------------------------------------------------------

Deno.test("axios-cache-interceptor#253: max-age=0 is explicit freshness, not 'no headers' (expireAfter must not apply)", async () => {
  const t = setup((clock) => () => reply("x", { "cache-control": "max-age=0, public" }, { clock }), {
    expireAfter: 3600,
  });
  await t.get();
  t.clock.tick(1);
  const second = await t.get();
  assertEquals(second.response.fromCache, false, "max-age=0 is stale at once");
  assertEquals(t.origin.calls, 2);
  await t.session.close();
});

Deno.test("axios-cache-adapter#243: Expires is honoured when Cache-Control has no max-age", async () => {
  const t = setup(
    (clock) => () =>
      reply("x", { "cache-control": "public", expires: new Date(clock.now + 60_000).toUTCString() }, {
        clock,
      }),
    {
      expireAfter: 3600,
    },
  );
  await t.get();
  t.clock.tick(30);
  assertEquals((await t.get()).response.fromCache, true, "fresh by Expires at 30 s");
  t.clock.tick(31);
  assertEquals(
    (await t.get()).response.fromCache,
    false,
    "stale by Expires at 61 s (expireAfter does not override)",
  );
  await t.session.close();
});

Deno.test("http-cache-semantics#22 / undici#5504: request max-age limits what is served (including max-age=0) without evicting", async () => {
  const t = setup((clock) => (request, n) =>
    n === 1 || request.headers.get("if-none-match") !== '"r1"'
      ? reply("r1", { "cache-control": "max-age=3600", etag: '"r1"' }, { clock })
      : reply(null, { "cache-control": "max-age=3600", etag: '"r1"' }, { status: 304, clock })
  );
  await t.get();
  t.clock.tick(10);
  const limited = await t.get({ headers: { "cache-control": "max-age=2" } });
  assertEquals(t.origin.calls, 2, "a 10 s old response is not acceptable to max-age=2");
  assertEquals(limited.body, "r1");
  const plain = await t.get();
  assertEquals(plain.response.fromCache, true, "the entry still serves requests without the directive");
  assertEquals(t.origin.calls, 2);
  // The 304 just freshened the entry: its age is 0, which max-age=0 accepts (§5.2.1.1: "less than
  // or equal"). The fetch cache mode "no-cache" must still revalidate (Fetch standard, README).
  await t.get({ cache: "no-cache" });
  assertEquals(t.origin.calls, 3, "cache: no-cache revalidates even an entry of age 0");
  t.clock.tick(1);
  await t.get({ headers: { "cache-control": "max-age=0" } });
  assertEquals(t.origin.calls, 4, "request max-age=0 refuses a 1 s old response (0 is not 'absent')");
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// Stale responses
// ---------------------------------------------------------------------------------------------

Deno.test("axios-cache-interceptor#507: must-revalidate is stored and served while fresh, never served stale on error", async () => {
  const t = setup(
    (clock) => (_request, n) =>
      n === 1
        ? reply("v1", { "cache-control": "max-age=60, must-revalidate" }, { clock })
        : reply("down", {}, { status: 503, clock }),
    { staleIfError: true },
  );
  await t.get();
  t.clock.tick(30);
  assertEquals((await t.get()).response.fromCache, true, "must-revalidate does not disable caching");
  t.clock.tick(60);
  const stale = await t.get();
  assertEquals(stale.response.status, 503, "must-revalidate forbids serving stale even with staleIfError");
  await t.session.close();

  const s = setup(
    (clock) => (_request, n) => reply(`v${n}`, { "cache-control": "max-age=1, must-revalidate" }, { clock }),
    { staleWhileRevalidate: 600 },
  );
  await s.get();
  s.clock.tick(5);
  const refreshed = await s.get();
  assertEquals(
    refreshed.body,
    "v2",
    "must-revalidate forbids stale-while-revalidate: validated synchronously",
  );
  await s.session.close();
});

Deno.test("axios-cache-interceptor#543: max-age=0 with stale-while-revalidate serves stale at once and refreshes", async () => {
  const t = setup((clock) => (_request, n) =>
    reply(`v${n}`, { "cache-control": "max-age=0, stale-while-revalidate=86400" }, { clock })
  );
  assertEquals((await t.get()).body, "v1");
  t.clock.tick(10);
  const stale = await t.get();
  assertEquals(stale.body, "v1", "served stale within the swr window");
  assertEquals(stale.response.fromCache, true);
  await withinSeconds(until(() => t.origin.calls >= 2), 5, "background refresh");
  await delay(20);
  await settle();
  const next = await t.get();
  assertEquals(next.body, "v2", "the background refresh replaced the entry");
  await t.session.close();
});

Deno.test("axios-cache-interceptor#506: the stale-if-error directive's window is honoured (and bounded)", async () => {
  const t = setup((clock) => (_request, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=1, stale-if-error=10" }, { clock })
      : reply("down", {}, { status: 503, clock })
  );
  await t.get();
  t.clock.tick(5);
  const within = await t.get();
  assertEquals(within.response.status, 200, "stale by 4 s, within stale-if-error=10");
  assertEquals(within.body, "v1");
  t.clock.tick(20);
  const beyond = await t.get();
  assertEquals(beyond.response.status, 503, "stale by 24 s, beyond stale-if-error=10");
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// Concurrent requests (deduplication / coalescing)
// ---------------------------------------------------------------------------------------------

Deno.test("axios-cache-interceptor#1149: concurrent identical requests share one origin request when it answers a storable 404", async () => {
  const g = Promise.withResolvers<void>();
  const t = setup((clock) => async () => {
    await g.promise;
    return reply("not found", { "cache-control": "max-age=60" }, { status: 404, clock });
  });
  const pending = Array.from({ length: 5 }, () => t.get());
  await until(() => t.origin.calls >= 1);
  await delay(10);
  g.resolve();
  const results = await withinSeconds(Promise.all(pending), 5, "coalesced 404s");
  for (const r of results) {
    assertEquals(r.response.status, 404);
    assertEquals(r.body, "not found");
  }
  assertEquals(t.origin.calls, 1, "one origin request for five callers");
  await t.session.close();
});

Deno.test("axios-cache-interceptor#1240: waiters never hang when the leader's response is not stored", async () => {
  const g = Promise.withResolvers<void>();
  const t = setup((clock) => async (_request, n) => {
    if (n === 1) await g.promise;
    return reply(`fresh ${n}`, { "cache-control": "no-store" }, { clock });
  });
  const pending = Array.from({ length: 5 }, () => t.get());
  await until(() => t.origin.calls >= 1);
  await delay(10);
  g.resolve();
  const results = await withinSeconds(Promise.all(pending), 5, "waiters of a no-store leader");
  for (const r of results) {
    assertEquals(r.response.status, 200);
    assert(r.body.startsWith("fresh "), `unexpected body ${r.body}`);
  }
  await t.session.close();
});

Deno.test("axios-cache-interceptor#1171 / #317: aborting one request does not fail an identical one (waiting or later)", async () => {
  const g = Promise.withResolvers<void>();
  const t = setup((clock) => async (request, n) => {
    if (n === 1) {
      const how = await abortedOr(request.signal, g.promise);
      if (how === "aborted") throw request.signal.reason ?? new DOMException("aborted", "AbortError");
    }
    return reply(`ok ${n}`, FRESH, { clock });
  });
  const controller = new AbortController();
  const first = t.session.fetch(URL_A, { signal: controller.signal });
  await until(() => t.origin.calls >= 1);
  const waiter = t.session.fetch(URL_A); // joins the first one
  await delay(5);
  controller.abort();
  let firstError: unknown;
  try {
    await (await first).text();
  } catch (error) {
    firstError = error;
  }
  assert(firstError instanceof Error || firstError instanceof DOMException, "the aborted caller rejects");
  assertEquals((firstError as Error).name, "AbortError");
  const later = t.session.fetch(URL_A);
  await delay(5);
  g.resolve();
  const [w, l] = await withinSeconds(Promise.all([waiter, later]), 5, "requests after an abort");
  assertEquals(w.status, 200, "the waiter is not failed by another caller's abort");
  assert((await w.text()).startsWith("ok "));
  assertEquals(l.status, 200, "a later identical request is not failed by an earlier abort");
  assert((await l.text()).startsWith("ok "));
  await t.session.close();
});

Deno.test("axios-cache-interceptor#922: an aborted revalidation does not delete the stored entry", async () => {
  const g = Promise.withResolvers<void>();
  const t = setup((clock) => async (request, n) => {
    if (n === 1) return reply("v1", { "cache-control": "max-age=1", etag: '"e1"' }, { clock });
    if (n === 2) {
      await abortedOr(request.signal, g.promise);
      throw new TypeError("connection reset");
    }
    return request.headers.get("if-none-match") === '"e1"'
      ? reply(null, { "cache-control": "max-age=1", etag: '"e1"' }, { status: 304, clock })
      : reply("v2", { "cache-control": "max-age=1", etag: '"e2"' }, { clock });
  });
  await t.get();
  t.clock.tick(5);
  const controller = new AbortController();
  const aborted = t.session.fetch(URL_A, { signal: controller.signal });
  await until(() => t.origin.calls >= 2);
  controller.abort();
  try {
    await (await aborted).text();
  } catch { /* the caller aborted */ }
  g.resolve();
  await delay(10);
  await settle();
  const after = await t.get();
  assertEquals(t.origin.calls, 3);
  assertEquals(t.origin.requests[2]!.headers.get("if-none-match"), '"e1"', "the entry survived the abort");
  assertEquals(after.body, "v1");
  await t.session.close();
});

Deno.test("memoized-node-fetch#3: a network error does not poison the in-flight map (the next request asks again)", async () => {
  const t = setup((clock) => (_request, n) => {
    if (n === 1) throw new TypeError("connection refused");
    return reply("ok", FRESH, { clock });
  });
  let failed = false;
  try {
    await t.get();
  } catch (error) {
    failed = error instanceof TypeError;
  }
  assert(failed, "the first request fails with the network error");
  const second = await withinSeconds(t.get(), 5, "request after a network error");
  assertEquals(second.body, "ok");
  assertEquals(t.origin.calls, 2);
  await t.session.close();
});

Deno.test("axios-cache-interceptor#921: coalesced callers get independent responses (no shared body or headers)", async () => {
  const BODY = "y".repeat(32 * 1024);
  const g = Promise.withResolvers<void>();
  const t = setup((clock) => async () => {
    await g.promise;
    return reply(BODY, FRESH, { clock });
  });
  const pending = Array.from({ length: 3 }, () => t.session.fetch(URL_A));
  await until(() => t.origin.calls >= 1);
  await delay(10);
  g.resolve();
  const all = await withinSeconds(Promise.all(pending), 5, "coalesced responses");
  const [r1, r2, r3] = [all[0]!, all[1]!, all[2]!];
  assert(r1 !== r2 && r2 !== r3, "distinct Response objects");
  try {
    r1.headers.set("x-mutated", "1");
  } catch { /* immutable headers are fine too */ }
  assertEquals(r2.headers.get("x-mutated"), null, "a caller's header change does not reach another caller");
  await r1.body?.cancel();
  assertEquals(await r2.text(), BODY, "cancelling one body does not cut another");
  assertEquals(await r3.text(), BODY);
  const later = await t.session.fetch(URL_A);
  assertEquals(later.headers.get("x-mutated"), null, "nor the stored entry");
  assertEquals(await later.text(), BODY);
  assertEquals(t.origin.calls, 1);
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

Deno.test("node-fetch-cache#59 / node-fetch#1380: clone() of served responses, twice, all readable", async () => {
  const BODY = "z".repeat(20 * 1024);
  const t = setup((clock) => () => reply(BODY, FRESH, { clock }));
  const miss = await t.session.fetch(URL_A);
  const missClone = miss.clone();
  assertEquals(await missClone.text(), BODY, "clone of a miss");
  assertEquals(await miss.text(), BODY, "original of a miss after its clone was read");
  const hit = await t.session.fetch(URL_A);
  assertEquals(hit.fromCache, true);
  const c1 = hit.clone();
  const c2 = hit.clone();
  assertEquals(await c1.text(), BODY, "first clone of a hit");
  assertEquals(await c2.text(), BODY, "second clone of a hit");
  assertEquals(await hit.text(), BODY, "original of a hit");
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

Deno.test("axios-cache-interceptor#116 / node-fetch-cache#3: POST bodies (incl. URLSearchParams and Request bodies) are part of the key", async () => {
  const t = setup((clock) => async (request) => reply(`echo:${await request.text()}`, FRESH, { clock }), {
    allowedMethods: ["GET", "POST"],
  });
  const post = async (body: BodyInit) => {
    const r = await t.session.fetch(URL_A, { method: "POST", body });
    return { r, text: await r.text() };
  };
  assertEquals((await post(new URLSearchParams({ q: "alpha" }))).text, "echo:q=alpha");
  assertEquals(
    (await post(new URLSearchParams({ q: "bravo" }))).text,
    "echo:q=bravo",
    "different body, different answer",
  );
  const again = await post(new URLSearchParams({ q: "alpha" }));
  assertEquals(again.text, "echo:q=alpha");
  assertEquals(t.origin.calls, 2, "the same body is answered from the cache");
  const viaRequest = await t.session.fetch(
    new Request(URL_A, {
      method: "POST",
      body: "q=charlie",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    }),
  );
  assertEquals(await viaRequest.text(), "echo:q=charlie", "a body carried by a Request object is keyed too");
  assertEquals(t.origin.calls, 3);
  await t.session.close();
});

Deno.test("axios-cache-interceptor#738: query parameter changes (incl. repeated names) change the key", async () => {
  const t = setup((clock) => (request) => reply(new URL(request.url).search, FRESH, { clock }));
  const body = async (url: string | URL) => await (await t.session.fetch(url)).text();
  assertEquals(await body(`${URL_A}?start=1&end=2`), "?start=1&end=2");
  assertEquals(await body(`${URL_A}?start=1&end=3`), "?start=1&end=3");
  const u = new URL(URL_A);
  u.searchParams.set("start", "1");
  u.searchParams.set("end", "4");
  assertEquals(await body(u), "?start=1&end=4");
  assertEquals(await body(`${URL_A}?a=1&a=2`), "?a=1&a=2");
  assertEquals(await body(`${URL_A}?a=2&a=1`), "?a=2&a=1", "the order of a repeated name's values matters");
  assertEquals(t.origin.calls, 5);
  await t.session.close();
});

Deno.test("axios-cache-interceptor#980: responses for different Authorization values are never shared", async () => {
  const t = setup((clock) => (request) =>
    reply(`for ${request.headers.get("authorization")}`, { "cache-control": "max-age=60" }, { clock })
  );
  assertEquals((await t.get({ headers: { authorization: "Bearer alice" } })).body, "for Bearer alice");
  assertEquals((await t.get({ headers: { authorization: "Bearer bob" } })).body, "for Bearer bob");
  assertEquals(
    (await t.get()).body,
    "for null",
    "an anonymous request does not get a signed-in user's answer",
  );
  assertEquals((await t.get({ headers: { authorization: "Bearer alice" } })).response.fromCache, true);
  assertEquals(t.origin.calls, 3);
  await t.session.close();
});

Deno.test("axios-cache-interceptor#1164 (cf. okhttp#934): Vary: Accept-Encoding still hits when fetch adds Accept-Encoding itself", async () => {
  const server = await loopback((_request, response) => {
    response.writeHead(200, {
      "cache-control": "max-age=60",
      vary: "Accept-Encoding",
      "content-type": "text/plain",
    })
      .end("varied");
  });
  const session = new CachedSession({ fetch });
  try {
    const url = `${server.url}/vary`;
    const first = await session.fetch(url);
    assertEquals(await first.text(), "varied");
    const second = await session.fetch(url);
    assertEquals(await second.text(), "varied");
    assertEquals(second.fromCache, true, "the second identical request is a hit");
    assertEquals(server.hits, 1);
  } finally {
    await session.close();
    await server.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Methods (not a listed peer: the same bug in tempesta-tech/tempesta#416, apache httpclient#438)
// ---------------------------------------------------------------------------------------------

Deno.test("tempesta#416 (non-peer): a stored HEAD response never answers a GET with an empty body", async () => {
  const t = setup((clock) => (request) =>
    request.method === "HEAD"
      ? reply(null, { ...FRESH, "content-length": "4" }, { clock })
      : reply("body", FRESH, { clock })
  );
  const head = await t.get({ method: "HEAD" });
  assertEquals(head.body, "");
  const get = await t.get();
  assertEquals(get.body, "body", "GET after HEAD gets the full body");
  const headAgain = await t.get({ method: "HEAD" });
  assertEquals(headAgain.body, "", "HEAD answered from a stored GET carries no body");
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// More header interpretation
// ---------------------------------------------------------------------------------------------

Deno.test("axios-cache-interceptor#49 (Age): an Age from upstream shortens the remaining freshness", async () => {
  const t = setup((clock) => () => reply("aged", { "cache-control": "max-age=60", age: "50" }, { clock }));
  await t.get();
  t.clock.tick(5);
  assertEquals((await t.get()).response.fromCache, true, "age 55 of 60: fresh");
  t.clock.tick(10);
  assertEquals((await t.get()).response.fromCache, false, "age 65 of 60: stale");
  await t.session.close();
});

Deno.test("axios-cache-interceptor#53 (review): If-Modified-Since carries the stored Last-Modified, not a local time", async () => {
  const LAST_MODIFIED = "Tue, 01 Jan 2019 10:00:00 GMT";
  const t = setup((clock) => (request, n) =>
    n === 1
      ? reply("lm", { "cache-control": "max-age=1", "last-modified": LAST_MODIFIED }, { clock })
      : request.headers.get("if-modified-since") === LAST_MODIFIED
      ? reply(null, { "cache-control": "max-age=1" }, { status: 304, clock })
      : reply("unconditional", { "cache-control": "max-age=1" }, { clock })
  );
  await t.get();
  t.clock.tick(5);
  const second = await t.get();
  assertEquals(t.origin.requests[1]!.headers.get("if-modified-since"), LAST_MODIFIED);
  assertEquals(second.body, "lm");
  await t.session.close();
});

Deno.test("axios-cache-interceptor#1154: Vary on a header absent from one request and present in the other", async () => {
  const t = setup((clock) => (request) =>
    reply(`team=${request.headers.get("x-team")}`, { ...FRESH, vary: "X-Team" }, { clock })
  );
  assertEquals((await t.get()).body, "team=null");
  assertEquals(
    (await t.get({ headers: { "x-team": "a" } })).body,
    "team=a",
    "present vs absent: a different variant",
  );
  assertEquals((await t.get({ headers: { "x-team": "b" } })).body, "team=b");
  const anon = await t.get();
  assertEquals(anon.body, "team=null");
  assertEquals(anon.response.fromCache, true);
  assertEquals(t.origin.calls, 3);
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// Storability of odd responses (not listed peers: npm/make-fetch-happen, isaacs/nave)
// ---------------------------------------------------------------------------------------------

Deno.test("make-fetch-happen#293 (non-peer): empty-bodied 200 and 204 responses are cached", async () => {
  const t = setup((clock) => (request) =>
    request.url.endsWith("/204") ? reply(null, FRESH, { status: 204, clock }) : reply("", FRESH, { clock })
  );
  await t.get();
  const empty = await t.get();
  assertEquals(empty.response.fromCache, true, "empty 200 is a hit");
  assertEquals(empty.body, "");
  await t.get(undefined, `${URL_A}/204`);
  const noContent = await t.get(undefined, `${URL_A}/204`);
  assertEquals(noContent.response.status, 204);
  assertEquals(noContent.response.fromCache, true, "204 with max-age is a hit");
  assertEquals(t.origin.calls, 2);
  await t.session.close();
});

Deno.test("nave#124 (non-peer): a 500 without freshness is not stored, even with expireAfter", async () => {
  const t = setup(
    (clock) => (_request, n) =>
      n === 1 ? reply("oops", {}, { status: 500, clock }) : reply("ok", {}, { clock }),
    { expireAfter: 3600 },
  );
  assertEquals((await t.get()).response.status, 500);
  const second = await t.get();
  assertEquals(second.response.status, 200, "the error page was not cached");
  assertEquals(second.body, "ok");
  await t.session.close();
});

Deno.test("make-fetch-happen#64 (non-peer): a large miss body can be read through clone() first, then the original", async () => {
  const BIG = new Uint8Array(4 * 1024 * 1024).fill(97);
  const server = await loopback((_request, response) => {
    response.writeHead(200, { ...FRESH, "content-type": "application/octet-stream" }).end(BIG);
  });
  const session = new CachedSession({ fetch });
  try {
    const miss = await session.fetch(`${server.url}/big`);
    const copy = miss.clone();
    const a = new Uint8Array(await withinSeconds(copy.arrayBuffer(), 10, "clone of a 4 MiB miss"));
    const b = new Uint8Array(await withinSeconds(miss.arrayBuffer(), 10, "original of a 4 MiB miss"));
    assertEquals(a.length, BIG.length);
    assertEquals(b.length, BIG.length);
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("axios-extensions#46 / axios-cache-adapter#3: a successful POST invalidates the URL's stored GET; a failed one does not", async () => {
  const t = setup((clock) => (request, n) => {
    if (request.method === "POST") {
      return request.headers.get("x-fail")
        ? reply("no", {}, { status: 500, clock })
        : reply("created", {}, { status: 201, clock });
    }
    return reply(`list ${n}`, FRESH, { clock });
  });
  assertEquals((await t.get()).body, "list 1");
  await t.get({ method: "POST", body: "x", headers: { "x-fail": "1" } });
  const afterFailed = await t.get();
  assertEquals(
    afterFailed.response.fromCache,
    true,
    "a 500 to POST leaves the entry (§4.4: non-error status only)",
  );
  await t.get({ method: "POST", body: "x" });
  const afterCreated = await t.get();
  assertEquals(afterCreated.response.fromCache, false, "a 201 to POST invalidates the stored GET (§4.4)");
  assertEquals(afterCreated.body, "list 4");
  await t.session.close();
});

// ---------------------------------------------------------------------------------------------
// Redirects (not a listed peer: 06chaynes/http-cache#117)
// ---------------------------------------------------------------------------------------------

Deno.test({
  name:
    "http-cache#117 (non-peer): a non-cacheable redirect is asked again, not replaced by its target's entry",
  fn: async () => {
    let target = "/v1";
    const server = await loopback((request, response) => {
      const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
      if (path === "/latest") {
        response.writeHead(302, { location: target, "cache-control": "no-store" }).end();
        return;
      }
      response.writeHead(200, { "cache-control": "max-age=3600", "content-type": "text/plain" }).end(path);
    });
    const session = new CachedSession({ fetch });
    try {
      const first = await session.fetch(`${server.url}/latest`);
      assertEquals(await first.text(), "/v1");
      target = "/v2"; // the origin now redirects elsewhere; its redirect said no-store
      const second = await session.fetch(`${server.url}/latest`);
      assertEquals(
        server.hitsOf("/latest"),
        2,
        "the no-store redirect is not reused: the origin is asked again",
      );
      assertEquals(await second.text(), "/v2");
    } finally {
      await session.close();
      await server.close();
    }
  },
});
