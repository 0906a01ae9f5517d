/**
 * RFC 9111 (and RFC 5861) behaviour of CachedSession, table-driven per section, against a
 * scripted origin and an injected clock.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { CacheBackend } from "../backends/base.ts";
import { ALIAS_TARGETS } from "../src/record.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";
import { delay, Switched, until } from "./_fixtures.ts";
import { Clock, httpDate, origin, reached, reply, type Script } from "./_origin.ts";
import { DeleteAts, keptFor, refreshing, type Scripted, scripted as setup, URL_A } from "./_scripted.ts";

const date = (clock: Clock, offsetSeconds = 0) => httpDate(clock.now, offsetSeconds);

interface FreshnessCase {
  name: string;
  headers: (clock: Clock) => Record<string, string>;
  wait: number;
  hit: boolean;
  options?: CachedSessionOptions;
}

// §4.2.1 freshness lifetime, §4.2.2 heuristics, §4.2.3 age.
const freshness: FreshnessCase[] = [
  { name: "max-age fresh", headers: () => ({ "cache-control": "max-age=60" }), wait: 30, hit: true },
  { name: "max-age stale", headers: () => ({ "cache-control": "max-age=60" }), wait: 61, hit: false },
  { name: "max-age=0 stale at once", headers: () => ({ "cache-control": "max-age=0" }), wait: 0, hit: false },
  {
    name: "s-maxage ignored by a private cache",
    headers: () => ({ "cache-control": "s-maxage=10, max-age=60" }),
    wait: 30,
    hit: true,
  },
  {
    name: "s-maxage first in a shared cache",
    headers: () => ({ "cache-control": "s-maxage=10, max-age=60" }),
    wait: 30,
    hit: false,
    options: { shared: true },
  },
  { name: "Expires fresh", headers: (c) => ({ expires: date(c, 60) }), wait: 30, hit: true },
  { name: "Expires stale", headers: (c) => ({ expires: date(c, 60) }), wait: 61, hit: false },
  {
    name: "Expires counts from the origin's Date, not from the local clock (skewed origin, fresh)",
    headers: (c) => ({ date: date(c, 3600), expires: date(c, 3600 + 60) }),
    wait: 30,
    hit: true,
  },
  {
    name: "Expires counts from the origin's Date, not from the local clock (skewed origin, stale)",
    headers: (c) => ({ date: date(c, 3600), expires: date(c, 3600 + 60) }),
    wait: 90,
    hit: false,
  },
  {
    name: "an old Date ages the response (apparent age)",
    headers: (c) => ({ date: date(c, -3600), expires: date(c, -3600 + 60) }),
    wait: 0,
    hit: false,
  },
  {
    name: "max-age wins over Expires",
    headers: (c) => ({ "cache-control": "max-age=10", expires: date(c, 100) }),
    wait: 30,
    hit: false,
  },
  { name: "invalid Expires is stale", headers: () => ({ expires: "0", etag: '"x"' }), wait: 0, hit: false },
  {
    name: "a quoted max-age is read",
    headers: () => ({ "cache-control": 'max-age="60"' }),
    wait: 30,
    hit: true,
  },
  {
    name: "a quoted max-age with text after its closing quote is invalid, hence stale",
    headers: () => ({ "cache-control": 'max-age="60"x' }),
    wait: 1,
    hit: false,
  },
  {
    name: "duplicate max-age is invalid, hence stale",
    headers: () => ({ "cache-control": "max-age=60, max-age=120" }),
    wait: 1,
    hit: false,
  },
  {
    name: "Age counts against max-age",
    headers: () => ({ "cache-control": "max-age=60", age: "50" }),
    wait: 20,
    hit: false,
  },
  {
    name: "apparent age from Date counts",
    headers: (c) => ({ "cache-control": "max-age=60", date: date(c, -50) }),
    wait: 20,
    hit: false,
  },
  {
    name: "heuristic freshness: 10% of Date - Last-Modified",
    headers: (c) => ({ "last-modified": date(c, -1000) }),
    wait: 90,
    hit: true,
  },
  {
    name: "heuristic freshness runs out",
    headers: (c) => ({ "last-modified": date(c, -1000) }),
    wait: 110,
    hit: false,
  },
  {
    name: "heuristic freshness lasts a week at most (a Last-Modified of 1970)",
    headers: () => ({ "last-modified": "Thu, 01 Jan 1970 00:00:01 GMT" }),
    wait: 7 * 86400 - 60,
    hit: true,
  },
  {
    name: "heuristic freshness lasts a week at most, then runs out",
    headers: () => ({ "last-modified": "Thu, 01 Jan 1970 00:00:01 GMT" }),
    wait: 7 * 86400 + 60,
    hit: false,
  },
  {
    name: "negative max-age is invalid, hence stale",
    headers: () => ({ "cache-control": "max-age=-5" }),
    wait: 0,
    hit: false,
  },
  {
    name: "huge max-age is capped, not overflowed",
    headers: () => ({ "cache-control": "max-age=99999999999999999999" }),
    wait: 86400 * 365,
    hit: true,
  },
  {
    name: "configured expireAfter applies without explicit freshness",
    headers: () => ({}),
    wait: 30,
    hit: true,
    options: { expireAfter: 60 },
  },
  {
    name: "explicit freshness beats the session's expireAfter",
    headers: () => ({ "cache-control": "max-age=10" }),
    wait: 30,
    hit: false,
    options: { expireAfter: 60 },
  },
  {
    name: "urlsExpireAfter beats the session's expireAfter",
    headers: () => ({}),
    wait: 30,
    hit: false,
    options: { expireAfter: 60, urlsExpireAfter: { "127.0.0.1/res*": 10 } },
  },
];

for (const c of freshness) {
  Deno.test(`RFC 9111 §4.2 freshness: ${c.name}`, async () => {
    const t = setup((clock) => () => reply("x", c.headers(clock), { clock }), c.options);
    await t.get();
    t.clock.tick(c.wait);
    const { response } = await t.get();
    assertEquals(response.fromCache, c.hit);
    await t.session.close();
  });
}

interface StorableCase {
  name: string;
  headers: Record<string, string>;
  request?: Record<string, string>;
  status?: number;
  stored: boolean;
  options?: CachedSessionOptions;
}

// §3 storing responses.
const storable: StorableCase[] = [
  { name: "max-age is stored", headers: { "cache-control": "max-age=60" }, stored: true },
  { name: "no-store is not", headers: { "cache-control": "max-age=60, no-store" }, stored: false },
  {
    name: "NO-STORE in capitals is not",
    headers: { "cache-control": "MAX-AGE=60, NO-STORE" },
    stored: false,
  },
  {
    name: "request no-store is not",
    headers: { "cache-control": "max-age=60" },
    request: { "cache-control": "no-store" },
    stored: false,
  },
  {
    name: "private is stored by a private cache",
    headers: { "cache-control": "private, max-age=60" },
    stored: true,
  },
  {
    name: "private is not stored by a shared cache",
    headers: { "cache-control": "private, max-age=60" },
    stored: false,
    options: { shared: true },
  },
  {
    name: "malformed private stays private",
    headers: { "cache-control": 'max-age=60, private="unterminated' },
    stored: false,
    options: { shared: true },
  },
  {
    name: "empty private stays private",
    headers: { "cache-control": "max-age=60, private=" },
    stored: false,
    options: { shared: true },
  },
  {
    name: "Vary: * is not stored",
    headers: { "cache-control": "max-age=60", vary: "accept, *" },
    stored: false,
  },
  {
    name: "206 is never stored",
    headers: { "cache-control": "max-age=60", "content-range": "bytes 0-0/2" },
    status: 206,
    stored: false,
  },
  { name: "no freshness and no validator is not stored", headers: {}, stored: false },
  {
    name: "shared cache and Authorization: not without public",
    headers: { "cache-control": "max-age=60" },
    request: { authorization: "Bearer t" },
    stored: false,
    options: { shared: true },
  },
  {
    name: "shared cache and Authorization: stored with public",
    headers: { "cache-control": "public, max-age=60" },
    request: { authorization: "Bearer t" },
    stored: true,
    options: { shared: true },
  },
  {
    name: "shared cache and Authorization: stored with s-maxage",
    headers: { "cache-control": "s-maxage=60" },
    request: { authorization: "Bearer t" },
    stored: true,
    options: { shared: true },
  },
  {
    name: "cacheControl off: only the expiration rules apply",
    headers: { "cache-control": "no-store" },
    stored: true,
    options: { cacheControl: false, expireAfter: 60 },
  },
];

for (const c of storable) {
  Deno.test(`RFC 9111 §3 storing: ${c.name}`, async () => {
    const t = setup(() => () => reply("x", c.headers, { status: c.status ?? 200 }), c.options);
    await t.get({ headers: c.request ?? {} });
    const { response } = await t.get({ headers: c.request ?? {} });
    assertEquals(response.fromCache, c.stored);
    await t.session.close();
  });
}

Deno.test("RFC 9111 §5.2.1 request directives", async (t) => {
  const s = setup((clock) => (_r, n) => reply(`v${n}`, { "cache-control": "max-age=100" }, { clock }));
  await s.get();
  s.clock.tick(30);
  await t.step("max-age: too old for the client → fetched", async () => {
    assertEquals((await s.get({ headers: { "cache-control": "max-age=10" } })).response.fromCache, false);
  });
  await t.step("max-age: young enough → hit", async () => {
    assertEquals((await s.get({ headers: { "cache-control": "max-age=50" } })).response.fromCache, true);
  });
  await t.step("min-fresh: not fresh for long enough → fetched", async () => {
    assertEquals((await s.get({ headers: { "cache-control": "min-fresh=200" } })).response.fromCache, false);
  });
  await t.step("max-stale: a stale response is accepted", async () => {
    s.clock.tick(150);
    assertEquals((await s.get({ headers: { "cache-control": "max-stale=100" } })).response.fromCache, true);
    assertEquals((await s.get({ headers: { "cache-control": "max-stale" } })).response.fromCache, true);
    assertEquals((await s.get({ headers: { "cache-control": "max-stale=10" } })).response.fromCache, false);
  });
  await t.step("Pragma: no-cache without Cache-Control → validated", async () => {
    assertEquals((await s.get({ headers: { pragma: "no-cache" } })).response.fromCache, false);
  });
  await t.step(
    "Pragma: no-cache beside a Cache-Control of extension directives alone → validated",
    async () => {
      // §5.4: Pragma is ignored only when Cache-Control is "present and understood".
      const headers = { pragma: "no-cache", "cache-control": 'community="UCI"' };
      assertEquals((await s.get({ headers })).response.fromCache, false);
      // Beside one the cache understands, Pragma is ignored: the fresh response is served.
      const understood = { pragma: "no-cache", "cache-control": "max-stale" };
      assertEquals((await s.get({ headers: understood })).response.fromCache, true);
    },
  );
  await t.step("only-if-cached on a miss → 504", async () => {
    const r = await s.session.fetch("http://127.0.0.1/other#part", {
      headers: { "cache-control": "only-if-cached" },
    });
    assertEquals([r.status, r.url, r.redirected, r.fromCache], [504, "http://127.0.0.1/other", false, false]);
  });
  await s.session.close();
});

Deno.test("RFC 8246 immutable: a reload (request max-age=0) does not revalidate a fresh immutable response", async () => {
  const s = setup((clock) => (_r, n) =>
    reply(`v${n}`, { "cache-control": n === 1 ? "max-age=60, immutable" : "max-age=60" }, { clock })
  );
  const reload = { headers: { "cache-control": "max-age=0" } };
  await s.get();
  s.clock.tick(10);
  assertEquals((await s.get(reload)).body, "v1", "fresh and immutable: served");
  assertEquals(s.origin.calls, 1);
  s.clock.tick(60);
  assertEquals((await s.get(reload)).body, "v2", "stale: immutable no longer applies");
  s.clock.tick(10);
  assertEquals((await s.get(reload)).body, "v3", "without immutable, max-age=0 revalidates");
  await s.session.close();
});

Deno.test("RFC 9111 §5.2.2.2 must-revalidate refuses max-stale and stale-if-error", async () => {
  const s = setup((clock) => (_r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=10, must-revalidate, stale-if-error=600" }, { clock })
      : reply("down", {}, { status: 503 })
  );
  await s.get();
  s.clock.tick(20);
  const { response } = await s.get({ headers: { "cache-control": "max-stale=100" } });
  assertEquals([response.fromCache, response.status], [false, 503]);
  await s.session.close();
});

Deno.test("RFC 9111 §5.2.2.4 no-cache: stored, always revalidated; qualified no-cache strips the field", async () => {
  const s = setup((clock) => (request) =>
    request.headers.get("if-none-match") === '"e"'
      ? new Response(null, { status: 304, headers: { etag: '"e"' } })
      : reply("body", { "cache-control": "no-cache, max-age=60", etag: '"e"' }, { clock })
  );
  await s.get();
  const second = await s.get();
  assertEquals([second.response.fromCache, second.response.revalidated, second.body], [true, true, "body"]);
  assertEquals(s.origin.calls, 2);
  await s.session.close();

  const q = setup((clock) => () =>
    reply("b", { "cache-control": 'max-age=60, no-cache="x-secret"', "x-secret": "s", "x-public": "p" }, {
      clock,
    })
  );
  await q.get();
  const hit = (await q.get()).response;
  assertEquals([hit.fromCache, hit.headers.get("x-secret"), hit.headers.get("x-public")], [true, null, "p"]);
  await q.session.close();
});

Deno.test("RFC 9111 §5.2.2.7 qualified private: a shared cache strips the named fields", async () => {
  const s = setup(
    (clock) => () =>
      reply("b", { "cache-control": 'max-age=60, private="x-user"', "x-user": "alice" }, { clock }),
    { shared: true },
  );
  await s.get();
  const hit = (await s.get()).response;
  assertEquals([hit.fromCache, hit.headers.get("x-user")], [true, null]);
  await s.session.close();
});

Deno.test("RFC 9111 §3, §3.5, §4.2.1: a shared and a private session on one backend never share an entry", async (t) => {
  const clock = new Clock();
  const o = origin((request) => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST") return reply("done", {}, { clock });
    const cacheControl = path === "/private" ? "private, max-age=60" : "max-age=5, s-maxage=60";
    return reply(`${path} for ${request.headers.get("authorization") ?? "anyone"}`, {
      "cache-control": cacheControl,
    }, { clock });
  });
  const backend = new MemoryBackend();
  const options = { backend, fetch: o.fetch, now: clock.fn };
  const mine = new CachedSession({ ...options, shared: false });
  const proxy = new CachedSession({ ...options, shared: true });
  const get = async (session: CachedSession, path: string, headers: HeadersInit = {}) => {
    const response = await session.fetch(`http://127.0.0.1${path}`, { headers });
    return { fromCache: response.fromCache, body: await response.text() };
  };

  await t.step("a private response the private session stored is not served by the shared one", async () => {
    await get(mine, "/private");
    assertEquals(await get(mine, "/private"), { fromCache: true, body: "/private for anyone" });
    assertEquals((await get(proxy, "/private")).fromCache, false);
    assertEquals((await get(proxy, "/private")).fromCache, false, "and it stores none of its own");
  });

  await t.step(
    "§3.5: what the private session stored for a request with Authorization stays out of the shared one",
    async () => {
      const alice = { authorization: "Bearer alice" };
      await get(mine, "/shared", alice);
      assertEquals((await get(mine, "/shared", alice)).fromCache, true);
      assertEquals((await get(proxy, "/shared", alice)).fromCache, false);
    },
  );

  await t.step(
    "s-maxage: what the shared session stored is not fresh for the private one past max-age",
    async () => {
      await get(proxy, "/both");
      clock.tick(10);
      assertEquals((await get(proxy, "/both")).fromCache, true, "fresh by s-maxage=60");
      assertEquals((await get(mine, "/both")).fromCache, false, "stale by max-age=5");
    },
  );

  await t.step("an invalidation through either reaches the other's entries", async () => {
    await get(proxy, "/both");
    assertEquals((await get(proxy, "/both")).fromCache, true);
    await (await mine.fetch("http://127.0.0.1/both", { method: "POST", body: "x" })).body?.cancel();
    assertEquals((await get(proxy, "/both")).fromCache, false);
  });
  await mine.close();
  await proxy.close();
});

Deno.test("RFC 9111 §4.3 validation: ETag and Last-Modified, 304 updates headers and freshness", async () => {
  const s = setup((clock) => (request, n) => {
    if (request.headers.get("if-none-match") === '"v1"') {
      return new Response(null, {
        status: 304,
        headers: { etag: '"v1"', "cache-control": "max-age=100", "x-updated": String(n), date: date(clock) },
      });
    }
    return reply("payload", {
      "cache-control": "max-age=10",
      etag: '"v1"',
      "last-modified": date(clock, -100),
      "x-updated": "0",
    }, { clock });
  });
  await s.get();
  s.clock.tick(20);
  const revalidated = await s.get();
  const sent = s.origin.requests[1]!;
  assertEquals([sent.headers.get("if-none-match"), sent.headers.get("if-modified-since")], [
    '"v1"',
    date(s.clock, -120),
  ]);
  assertEquals([
    revalidated.response.status,
    revalidated.response.fromCache,
    revalidated.response.revalidated,
  ], [200, true, true]);
  assertEquals([revalidated.body, revalidated.response.headers.get("x-updated")], ["payload", "2"]);
  s.clock.tick(50);
  const hit = await s.get();
  assertEquals([
    hit.response.fromCache,
    hit.response.revalidated,
    hit.response.headers.get("x-updated"),
    s.origin.calls,
  ], [true, false, "2", 2]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.3.2: a request with If-Match, If-Unmodified-Since or If-Range goes to the origin as it is, and its answer is neither served from nor stored in the cache", async () => {
  // Preconditions the cache cannot evaluate: Fetch §4.5 sends such a request as if its cache mode
  // were "no-store".
  const s = setup((clock) => (request, n) =>
    request.headers.has("if-match")
      ? new Response(null, { status: 412 })
      : reply(`v${n}`, { "cache-control": "max-age=60", etag: '"v1"' }, { clock })
  );
  assertEquals((await s.get()).body, "v1");
  const preconditions: Record<string, string>[] = [
    { "if-match": '"v1"' },
    { "if-unmodified-since": "Sat, 05 Dec 2026 00:00:00 GMT" },
    { "if-range": '"v1"', range: "bytes=0-0" },
  ];
  for (const headers of preconditions) {
    const calls = s.origin.calls;
    const { response } = await s.get({ headers });
    const [name, value] = Object.entries(headers)[0]!;
    assertEquals(
      [response.fromCache, s.origin.calls, s.origin.requests.at(-1)!.headers.get(name)],
      [false, calls + 1, value],
      name,
    );
  }
  assertEquals((await s.get({ headers: { "if-match": '"v1"' } })).response.status, 412);
  // Nothing they got was stored: the first response still answers.
  const { response, body } = await s.get();
  assertEquals([response.fromCache, body], [true, "v1"]);
  await s.session.close();
});

Deno.test("RFC 9110 §13.1.2: If-None-Match: * is answered 304 by any stored 2xx response, and goes to the origin when none is stored", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.get("if-none-match") === "*"
      ? new Response(null, { status: 304 })
      : reply(`v${n}`, { "cache-control": "max-age=60" }, { clock })
  );
  const star = { headers: { "if-none-match": "*" } };
  const unstored = await s.get(star);
  assertEquals([unstored.response.status, unstored.response.fromCache, s.origin.calls], [304, false, 1]);
  await s.get();
  // The response has no ETag: "*" matches any current representation, whatever its validators.
  const answered = await s.get(star);
  assertEquals([answered.response.status, answered.response.fromCache, answered.body, s.origin.calls], [
    304,
    true,
    "",
    2,
  ]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.3.4: a 304 with another strong validator is not used; the request is repeated", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.has("if-none-match")
      ? new Response(null, { status: 304, headers: { etag: '"other"' } })
      : reply(`v${n}`, { "cache-control": "max-age=10", etag: '"v1"' }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const { response, body } = await s.get();
  assertEquals([response.status, body, response.revalidated, s.origin.calls], [200, "v3", false, 3]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.3.4: weak validators revalidate with a weak comparison", async () => {
  const s = setup((clock) => (request) =>
    request.headers.get("if-none-match") === 'W/"w1"'
      ? new Response(null, { status: 304, headers: { etag: 'W/"w1"' } })
      : reply("weak", { "cache-control": "max-age=10", etag: 'W/"w1"' }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const { response, body } = await s.get();
  assertEquals([response.revalidated, body], [true, "weak"]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.1 Vary: variants are stored side by side and selected by normalised values", async () => {
  const s = setup((clock) => (request) =>
    reply(`lang ${request.headers.get("accept-language")}`, {
      "cache-control": "max-age=60",
      vary: "Accept-Language",
    }, { clock })
  );
  const as = (language: string) => s.get({ headers: { "accept-language": language } });
  assertEquals((await as("en")).body, "lang en");
  assertEquals((await as("fr, de")).body, "lang fr, de");
  const en = await as("EN");
  const fr = await as("fr,de");
  assertEquals([en.body, en.response.fromCache, fr.body, fr.response.fromCache], [
    "lang en",
    true,
    "lang fr, de",
    true,
  ]);
  const none = await s.get();
  assertEquals([none.body, none.response.fromCache], ["lang null", false]);
  assertEquals(s.origin.calls, 3);
  await s.session.close();
});

Deno.test("RFC 5861 §3 stale-while-revalidate: stale served at once, refreshed once in the background", async () => {
  const background: Promise<unknown>[] = [];
  const s = setup(
    (clock) => (_r, n) =>
      reply(`v${n}`, { "cache-control": "max-age=10, stale-while-revalidate=60" }, { clock }),
    { waitUntil: (p) => background.push(p) },
  );
  await s.get();
  s.clock.tick(20);
  const results = await Promise.all([s.get(), s.get(), s.get()]);
  // Every caller is answered from the cache; the one that found it stale got v1 at once. A
  // caller whose lookup ends after the refresh has landed may already get v2.
  assert(results.every((r) => r.response.fromCache && (r.body === "v1" || r.body === "v2")));
  assert(results.some((r) => r.body === "v1"));
  await Promise.all(background);
  assertEquals(s.origin.calls, 2);
  const refreshed = await s.get();
  assertEquals([refreshed.body, refreshed.response.fromCache], ["v2", true]);
  s.clock.tick(100);
  assertEquals((await s.get()).response.fromCache, false);
  // only-if-cached: the stale response, and no refresh, since the client wants no request sent.
  s.clock.tick(20);
  const offline = await s.get({ headers: { "cache-control": "only-if-cached" } });
  await Promise.all(background);
  assertEquals([offline.body, offline.response.fromCache, s.origin.calls], ["v3", true, 3]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.2.3: a response without freshness is as stale as its Age says: past its stale-while-revalidate or stale-if-error window on arrival, it is revalidated, and an error goes through", async (t) => {
  for (const [age, window, served] of [["100", 60, "v2:false"], ["10", 60, "v1:true"]] as const) {
    await t.step(`Age ${age}, stale-while-revalidate=${window}`, async () => {
      // Neither max-age nor Expires nor Last-Modified: no freshness. With max-age=0 the same holds.
      for (const freshness of ["", "max-age=0, "]) {
        const s = refreshing(
          (clock) => (_r, n) =>
            reply(`v${n}`, {
              "cache-control": `${freshness}stale-while-revalidate=${window}`,
              etag: '"e"',
              age,
            }, {
              clock,
            }),
          {},
        );
        await s.served();
        assertEquals(await s.served(), served, `${freshness}Age ${age}`);
        await s.session.close();
      }
    });
  }
  await t.step("Age 100, stale-if-error=60: the 503 goes through", async () => {
    let down = false;
    const s = setup((clock) => () =>
      down
        ? reply("down", {}, { status: 503 })
        : reply("good", { "cache-control": "stale-if-error=60", etag: '"e"', age: "100" }, { clock })
    );
    await s.get();
    down = true;
    assertEquals((await s.get()).response.status, 503);
    await s.session.close();
  });
});

Deno.test("a newer answer that may not be stored supersedes a stale stored response: it is served stale no more (a fresh one stays: cc-resp-no-store-old-new)", async () => {
  const s = refreshing(
    (clock) => (_r, n) =>
      n === 1
        ? reply("v1", { "cache-control": "max-age=10, stale-while-revalidate=600, stale-if-error=600" }, {
          clock,
        })
        : n === 2
        ? reply("v2", { "cache-control": "no-store" }, { clock })
        : n === 3
        ? reply("down", {}, { status: 503, clock })
        : reply(`v${n}`, { "cache-control": "no-store" }, { clock }),
    {},
  );
  assertEquals(await s.served(), "v1:false");
  s.clock.tick(20);
  // Served stale, and refreshed: the origin answers no-store.
  assertEquals(await s.served(), "v1:true");
  // v1 is older than what the origin has said since: neither stale-while-revalidate nor, on the
  // 503, stale-if-error serves it.
  assertEquals(await s.served(), "down:false");
  assertEquals(await s.served(), "v4:false");
  await s.session.close();
});

Deno.test("a reload's unstored answer supersedes a stale stored response as well", async () => {
  const s = refreshing(
    (clock) => (_r, n) =>
      n === 1
        ? reply("v1", { "cache-control": "max-age=10, stale-while-revalidate=600" }, { clock })
        : reply(`v${n}`, { "cache-control": "no-store" }, { clock }),
  );
  assertEquals(await s.served(), "v1:false");
  s.clock.tick(20);
  assertEquals(await s.served({ cache: "reload" }), "v2:false");
  assertEquals(await s.served(), "v3:false");
  await s.session.close();
});

Deno.test("a stale stored response that a newer unstored answer supersedes is served no more, though its delete fails", async () => {
  const storage = new Switched(new MemoryStorage());
  const errors: string[] = [];
  const s = refreshing(
    (clock) => (_r, n) =>
      n === 1
        ? reply("v1", { "cache-control": "max-age=10, stale-while-revalidate=600" }, { clock })
        : reply(`v${n}`, { "cache-control": "no-store" }, { clock }),
    { backend: new CacheBackend(storage), onError: (_error, context) => void errors.push(context.operation) },
  );
  assertEquals(await s.served(), "v1:false");
  storage.deletesFail = true;
  s.clock.tick(20);
  // Served stale, and refreshed: the origin answers no-store, and the delete of v1 fails.
  assertEquals(await s.served(), "v1:true");
  assertEquals(errors, ["delete"]);
  assertEquals(await s.served(), "v3:false");
  await s.session.close();
});

Deno.test("RFC 5861 §3 the session's staleWhileRevalidate: a window for responses without one; a response's own window, or must-revalidate, wins", async () => {
  let cacheControl = "max-age=10";
  const s = refreshing(
    (clock) => (_r, n) => reply(`v${n}`, { "cache-control": cacheControl }, { clock }),
    { staleWhileRevalidate: 30 },
  );
  const { served } = s;
  // Stale by 10 s, within the session's 30: served at once (v1), refreshed in the background (v2).
  await s.get();
  s.clock.tick(20);
  assertEquals([await served(), s.origin.calls], ["v1:true", 2]);
  // Stale by 35 s, past the window: the request waits for the origin.
  s.clock.tick(45);
  assertEquals([await served(), s.origin.calls], ["v3:false", 3]);
  // The response's own window, shorter than the session's, and must-revalidate, take precedence.
  for (const own of ["max-age=10, stale-while-revalidate=5", "max-age=10, must-revalidate"]) {
    cacheControl = own;
    s.clock.tick(100);
    const calls = s.origin.calls;
    await served(); // stores a response with this Cache-Control
    s.clock.tick(20);
    assertEquals([(await served()).endsWith(":false"), s.origin.calls], [true, calls + 2], own);
  }
  await s.session.close();
});

Deno.test("RFC 5861 §4 stale-if-error: stale served on 500/502/503/504 and network errors, within the window", async (t) => {
  let mode: "ok" | "503" | "throw" | "404" = "ok";
  const s = setup((clock) => () => {
    if (mode === "throw") throw new TypeError("fetch failed");
    if (mode === "503") return reply("down", {}, { status: 503 });
    if (mode === "404") return reply("gone", {}, { status: 404 });
    return reply("good", { "cache-control": "max-age=10, stale-if-error=100" }, { clock });
  });
  await s.get();
  s.clock.tick(20);
  await t.step("503 → stale", async () => {
    mode = "503";
    const { response, body } = await s.get();
    assertEquals([response.status, body, response.fromCache], [200, "good", true]);
  });
  await t.step("network error → stale", async () => {
    mode = "throw";
    assertEquals((await s.get()).body, "good");
  });
  await t.step("404 is not an error for stale-if-error", async () => {
    mode = "404";
    assertEquals((await s.get()).response.status, 404);
  });
  await t.step("past the window the error goes through", async () => {
    mode = "503";
    s.clock.tick(200);
    assertEquals((await s.get()).response.status, 503);
  });
  await s.session.close();
});

Deno.test("staleIfError session option serves stale on error for any age", async () => {
  let down = false;
  const s = setup((clock) => () => {
    if (down) throw new TypeError("fetch failed");
    return reply("good", { "cache-control": "max-age=1" }, { clock });
  }, { staleIfError: true });
  await s.get();
  s.clock.tick(86400 * 30);
  down = true;
  assertEquals((await s.get()).body, "good");
  await s.session.close();
});

Deno.test("cacheControl off: staleIfError alone decides, whatever the response's directives", async (t) => {
  const strict = `${URL_A}?strict`;
  let down = false;
  const s = setup((clock) => (request) => {
    if (down) throw new TypeError("fetch failed");
    const directives = request.url === strict ? "no-cache, must-revalidate" : "max-age=0, stale-if-error=600";
    return reply("good", { "cache-control": directives }, { clock });
  }, { cacheControl: false, expireAfter: 10, staleIfError: 60 });
  await s.get(undefined, strict);
  await s.get();
  down = true;
  s.clock.tick(30);
  await t.step("must-revalidate does not keep a stale response from answering an error", async () => {
    assertEquals((await s.get(undefined, strict)).body, "good");
  });
  await t.step("the response's stale-if-error does not stretch the session's", async () => {
    assertEquals((await s.get()).body, "good");
    s.clock.tick(100);
    await assertRejects(() => s.get(), TypeError, "fetch failed");
  });
  await s.session.close();
});

Deno.test("cacheControl off: the session's staleWhileRevalidate alone decides, whatever the response's directives", async () => {
  const s = refreshing(
    (clock) => (_r, n) =>
      reply(`v${n}`, { "cache-control": "no-cache, must-revalidate, stale-while-revalidate=600" }, { clock }),
    { cacheControl: false, expireAfter: 10, staleWhileRevalidate: 30 },
  );
  const { served } = s;
  await s.get();
  // Stale by 10 s, within the session's 30: served at once (v1), refreshed in the background (v2).
  s.clock.tick(20);
  assertEquals([await served(), s.origin.calls], ["v1:true", 2]);
  assertEquals([await served(), s.origin.calls], ["v2:true", 2]);
  // Stale by 40 s: past the session's window, though within the response's own.
  s.clock.tick(50);
  assertEquals([await served(), s.origin.calls], ["v3:false", 3]);
  await s.session.close();
});

Deno.test("the storage keeps an entry as long as it may be served stale: by the directives, or by the session's windows alone with cacheControl off", async () => {
  const kept = (options: CachedSessionOptions) =>
    keptFor({ "cache-control": "max-age=10, stale-while-revalidate=600, stale-if-error=900" }, options);
  assertEquals(await kept({ staleWhileRevalidate: 30 }), 10 + 900);
  assertEquals(await kept({ cacheControl: false, expireAfter: 10, staleWhileRevalidate: 30 }), 10 + 30);
  assertEquals(await kept({ cacheControl: false, expireAfter: 10, staleIfError: 60 }), 10 + 60);
});

Deno.test("cacheControl off: a hit says its true Age, not the one it was stored with", async () => {
  const s = setup((clock) => () => reply("x", { age: "20" }, { clock }), { cacheControl: false });
  await s.get();
  s.clock.tick(30);
  const { response } = await s.get();
  assertEquals([response.fromCache, response.headers.get("age")], [true, "50"]);
  await s.session.close();
});

Deno.test("cacheControl off: Vary still counts, so a Vary: * response is neither stored nor served", async () => {
  const errors: unknown[] = [];
  const s = setup(
    (clock) => (request, n) =>
      reply(`v${n}`, { vary: request.url.endsWith("/star") ? "accept, *" : "accept" }, { clock }),
    {
      cacheControl: false,
      expireAfter: 60,
      onError: (error) => errors.push(error),
    },
  );
  const star = "http://127.0.0.1/star";
  await s.get(undefined, star);
  const again = await s.get(undefined, star);
  assertEquals([again.response.fromCache, again.body], [false, "v2"]);
  assertEquals(await s.session.cache.count(), 0, "a Vary: * response was stored");
  // A Vary that names its fields is stored, and matched on them.
  await s.get({ headers: { accept: "text/plain" } });
  const hit = await s.get({ headers: { accept: "text/plain" } });
  const other = await s.get({ headers: { accept: "text/html" } });
  assertEquals([hit.response.fromCache, hit.body, other.response.fromCache], [true, "v3", false]);
  // Not stored by decision, not by a failure.
  assertEquals(errors, []);
  await s.session.close();
});

Deno.test("RFC 9111 §4.4 invalidation: unsafe methods invalidate the URI and same-origin Location", async () => {
  const s = setup((clock) => (request, n) => {
    if (request.method === "POST") {
      return reply("created", { location: "/other", "content-location": "http://elsewhere.test/x" }, {
        status: 201,
      });
    }
    return reply(`v${n}`, { "cache-control": "max-age=600" }, { clock });
  });
  const other = "http://127.0.0.1/other";
  await s.get();
  await s.get(undefined, other);
  await s.get(undefined, "http://elsewhere.test/x");
  await s.session.fetch(URL_A, { method: "POST", body: "x" });
  assertEquals((await s.get()).response.fromCache, false);
  assertEquals((await s.get(undefined, other)).response.fromCache, false);
  assertEquals((await s.get(undefined, "http://elsewhere.test/x")).response.fromCache, true);
  await s.session.close();
});

Deno.test("RFC 9111 §4.4: invalidating a URL also drops what a redirect to it led to, and ignores ignoredParameters", async (t) => {
  let version = 1;
  const clock = new Clock();
  const o = origin((request) => {
    if (request.method === "POST") return reply(`v${++version}`);
    const lang = request.headers.get("accept-language");
    const response = reply(lang === null ? `v${version}` : `v${version} ${lang}`, {
      "cache-control": "max-age=600",
      vary: "accept-language",
    }, { clock });
    const { pathname } = new URL(request.url);
    if (pathname === "/old" || pathname === "/also-old" || pathname.startsWith("/via-")) {
      // What fetch gives after following a redirect from /old (or /also-old, /via-…) to /new.
      reached(response, "/new");
    }
    return response;
  });
  const opened = (options: CachedSessionOptions = {}) => {
    const session = new CachedSession({
      fetch: o.fetch,
      now: clock.fn,
      ignoredParameters: ["token"],
      ...options,
    });
    const text = async (url: string, init?: RequestInit) => {
      const response = await session.fetch(url, init);
      return [response.fromCache, await response.text()];
    };
    return { session, text };
  };
  const post = (session: CachedSession) =>
    session.fetch("http://127.0.0.1/new", { method: "POST", body: "x" });

  await t.step("a redirect", async () => {
    const { session, text } = opened();
    assertEquals(await text("http://127.0.0.1/old"), [false, `v${version}`]);
    assertEquals(await text("http://127.0.0.1/new"), [true, `v${version}`]); // through the redirect's alias
    await (await post(session)).text();
    assertEquals(await text("http://127.0.0.1/old"), [false, `v${version}`]);
    await session.close();
  });
  await t.step("a redirect whose alias the cache has evicted", async () => {
    const { session, text } = opened({ backend: new MemoryBackend({ maxEntries: 2 }) });
    assertEquals(await text("http://127.0.0.1/old"), [false, `v${version}`]); // the entry and its alias
    assertEquals(await text("http://127.0.0.1/old"), [true, `v${version}`]); // the alias is used least
    await text("http://127.0.0.1/other"); // evicts the alias
    await (await post(session)).text();
    // The alias was the way from /new to what /old stored: without it, that entry is not served.
    assertEquals(await text("http://127.0.0.1/old"), [false, `v${version}`]);
    await session.close();
  });
  await t.step("two URLs whose redirects led to one place", async () => {
    const { session, text } = opened();
    assertEquals(await text("http://127.0.0.1/old"), [false, `v${version}`]);
    assertEquals(await text("http://127.0.0.1/also-old"), [false, `v${version}`]);
    // Each keeps its own way from /new: storing one does not take the other's.
    assertEquals(await text("http://127.0.0.1/old"), [true, `v${version}`]);
    assertEquals(await text("http://127.0.0.1/also-old"), [true, `v${version}`]);
    await (await post(session)).text();
    assertEquals(await session.cache.count(), 0, "both entries are deleted, not only left unserved");
    assertEquals(await text("http://127.0.0.1/old"), [false, `v${version}`]);
    assertEquals(await text("http://127.0.0.1/also-old"), [false, `v${version}`]);
    await session.close();
  });
  await t.step("more URLs whose redirects led to one place than an alias keeps", async () => {
    const { session, text } = opened();
    const via = Array.from({ length: ALIAS_TARGETS + 1 }, (_, i) => `http://127.0.0.1/via-${i}`);
    for (const url of via) assertEquals(await text(url), [false, `v${version}`]);
    // The first is no longer among the alias's targets, so an invalidation could miss its entry:
    // it is not served (and, stored again, it pushes out the second).
    assertEquals(await text(via[0]!), [false, `v${version}`]);
    for (const url of via.slice(2)) assertEquals(await text(url), [true, `v${version}`]);
    await session.close();
  });
  await t.step("every Vary variant a redirect led to", async () => {
    const { session, text } = opened();
    const asking = (lang: string) => ({ headers: { "accept-language": lang } });
    assertEquals(await text("http://127.0.0.1/old", asking("en")), [false, `v${version} en`]);
    assertEquals(await text("http://127.0.0.1/old", asking("fr")), [false, `v${version} fr`]);
    assertEquals(await text("http://127.0.0.1/old", asking("en")), [true, `v${version} en`]);
    await (await post(session)).text();
    assertEquals(await text("http://127.0.0.1/old", asking("en")), [false, `v${version} en`]);
    assertEquals(await text("http://127.0.0.1/old", asking("fr")), [false, `v${version} fr`]);
    await session.close();
  });
  await t.step("an ignored parameter", async () => {
    const { session, text } = opened();
    assertEquals(await text("http://127.0.0.1/a?token=1&b=2"), [false, `v${version}`]);
    assertEquals(await text("http://127.0.0.1/a?b=2&token=9"), [true, `v${version}`]);
    await text("http://127.0.0.1/a?token=3&b=2", { method: "POST", body: "x" });
    assertEquals(await text("http://127.0.0.1/a?b=2"), [false, `v${version}`]);
    await session.close();
  });
});

Deno.test("RFC 9111 §4.3.4: a 304 for what a redirect led to keeps the redirect's alias as long as the entry", async () => {
  const clock = new Clock();
  const o = origin((request) => {
    const response = request.headers.get("if-none-match") === '"v1"'
      ? reply(null, { "cache-control": "max-age=10", etag: '"v1"' }, { status: 304, clock })
      : reply("v1", { "cache-control": "max-age=10", etag: '"v1"' }, { clock });
    // What fetch gives after following a redirect from /old to /new.
    return reached(response, "/new");
  });
  const storage = new DeleteAts();
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, backend: new CacheBackend(storage) });
  await (await session.fetch("http://127.0.0.1/old")).text();
  const first = storage.writtenOnSessionClock("entry", clock.now)!;
  assertEquals(storage.written("alias"), storage.written("entry"));
  clock.tick(60);
  const revalidated = await session.fetch("http://127.0.0.1/old");
  await revalidated.text();
  assertEquals([revalidated.revalidated, o.calls], [true, 2]);
  await session.close(); // the freshened entry is written in the background
  // The entry lives on past its first deleteAt, and so must its alias: without it, it is not served.
  assert(storage.writtenOnSessionClock("entry", clock.now)! > first);
  assertEquals(storage.written("alias"), storage.written("entry"));
});

Deno.test("http: stale windows do not keep a response whose directives forbid serving it stale", async () => {
  const o = origin((request) =>
    reply("x", { "cache-control": request.url.endsWith("/nc") ? "no-cache" : "max-age=60, must-revalidate" })
  );
  const storage = new DeleteAts();
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    staleIfError: true,
  });
  // No validator: no-cache can never be used, so it is not kept; staleIfError would have kept it forever.
  await (await session.fetch("http://127.0.0.1/nc")).text();
  assertEquals(storage.written("entry"), undefined);
  // must-revalidate: kept until it expires, not forever.
  await (await session.fetch("http://127.0.0.1/mr")).text();
  assert(storage.written("entry")! <= Date.now() + 60_000, `deleteAt ${storage.written("entry")}`);
  await session.close();
});

/** A memory storage that records the keys it is asked for. */
class ReadKeys extends MemoryStorage {
  read: unknown[] = [];
  override get(key: string): Promise<Uint8Array | undefined> {
    this.read.push(key);
    return super.get(key);
  }
}

/** A memory storage whose writes land only once released: a backend slower than the origin. */
class HeldWrites extends MemoryStorage {
  held = 0;
  #release: (() => void)[] | undefined = [];
  override async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    if (this.#release !== undefined) {
      this.held++;
      await new Promise<void>((resolve) => this.#release!.push(resolve));
    }
    await super.set(key, value, deleteAt);
  }
  /** Lets the writes held so far land, and every later one at once. */
  release(): void {
    for (const resolve of this.#release?.splice(0) ?? []) resolve();
    this.#release = undefined;
  }
}

/** A memory storage whose writes land only once released, and whose deletes too once held. */
class HeldDeletes extends HeldWrites {
  #deletes: Promise<void> | undefined;
  #releaseDeletes: (() => void) | undefined;
  override async delete(keys: string[]): Promise<void> {
    await this.#deletes;
    await super.delete(keys);
  }
  /** Holds the deletes from now on. */
  holdDeletes(): void {
    this.#deletes = new Promise((resolve) => this.#releaseDeletes = resolve);
  }
  /** Lets the deletes held land, and every later one at once. */
  releaseDeletes(): void {
    this.#releaseDeletes?.();
    this.#deletes = undefined;
  }
}

/**
 * A resource that each POST changes (`v1`, `v2`, …), served with `cacheControl`; `hold()` keeps
 * the GETs from answering until the function it returns is called (they answer with the version
 * of when they arrived).
 */
function changingResource(cacheControl: string) {
  let version = 1;
  let held: Promise<void> | undefined;
  const clock = new Clock();
  const script: Script = async (request) => {
    if (request.method === "POST") return reply(`v${++version}`);
    const answer = `v${version}`;
    await held;
    return reply(answer, { "cache-control": cacheControl }, { clock });
  };
  return {
    clock,
    script,
    version: () => version,
    hold(): () => void {
      let answer!: () => void;
      held = new Promise((resolve) => answer = resolve);
      return () => {
        answer();
        held = undefined;
      };
    },
  };
}

Deno.test("RFC 9111 §4.4: what the origin sent before a POST is neither stored nor shared after it", async (t) => {
  const { clock, script, version, hold } = changingResource("max-age=10, stale-while-revalidate=60");

  await t.step("a refresh the origin answered before the POST is not written", async () => {
    const background: Promise<unknown>[] = [];
    const o = origin(script);
    const session = new CachedSession({
      fetch: o.fetch,
      now: clock.fn,
      waitUntil: (work) => background.push(work),
    });
    await (await session.fetch(URL_A)).text();
    clock.tick(20);
    const answer = hold();
    const stale = await session.fetch(URL_A); // served stale, refreshed in the background
    await stale.text();
    await until(() => o.calls === 2);
    await (await session.fetch(URL_A, { method: "POST", body: "x" })).text();
    answer(); // the refresh gets the version from before the POST
    await Promise.all(background);
    const after = await session.fetch(URL_A);
    assertEquals([after.fromCache, await after.text()], [false, `v${version()}`]);
    await session.close();
  });

  await t.step(
    "a request that comes after the POST does not share one the origin answered before it",
    async () => {
      const o = origin(script);
      const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
      const answer = hold();
      const first = session.fetch(URL_A); // at the origin, which answers with the version before the POST
      await until(() => o.calls === 1);
      await (await session.fetch(URL_A, { method: "POST", body: "x" })).text();
      const second = session.fetch(URL_A); // finds the first one on its way: would wait to share it
      answer();
      assertEquals(await (await first).text(), `v${version() - 1}`);
      const after = await second;
      assertEquals([after.fromCache, await after.text(), o.calls], [false, `v${version()}`, 3]);
      await session.close();
    },
  );
});

Deno.test("RFC 9111 §4.4: a POST, the cache's own deletes and a POST through another session invalidate alike", async (t) => {
  const { clock, script, hold } = changingResource("max-age=60");
  type Removal = (session: CachedSession, key: string) => Promise<unknown>;
  const removals: [string, Removal][] = [
    ["a POST", async (session) => await (await session.fetch(URL_A, { method: "POST", body: "x" })).text()],
    ["cache.delete(key)", (session, key) => session.cache.delete(key)],
    ["cache.delete({ urls })", (session) => session.cache.delete({ urls: [URL_A] })],
    ["cache.delete({ urlPattern })", (session) => session.cache.delete({ urlPattern: "127.0.0.1/*" })],
    ["cache.deleteUrls", (session) => session.cache.deleteUrls(URL_A)],
    ["cache.clear", (session) => session.cache.clear()],
    [
      "a POST through another session on the same storage",
      async (session) => {
        const other = new CachedSession({
          fetch: origin(script).fetch,
          now: clock.fn,
          backend: session.cache,
        });
        await (await other.fetch(URL_A, { method: "POST", body: "x" })).text();
      },
    ],
  ];

  for (const [name, remove] of removals) {
    await t.step(`${name} waits for a write under way, then deletes what it wrote`, async () => {
      const storage = new HeldWrites();
      const session = new CachedSession({
        fetch: origin(script).fetch,
        now: clock.fn,
        backend: new CacheBackend(storage),
      });
      const first = await session.fetch(URL_A);
      const read = first.text();
      await until(() => storage.held === 1);
      const removing = remove(session, first.cacheKey!);
      await Promise.race([removing, delay(20)]);
      storage.release();
      await Promise.all([removing, read]);
      const after = await session.fetch(URL_A);
      assertEquals(after.fromCache, false);
      await after.text();
      await session.close();
    });
  }

  for (const [name, remove] of removals.filter(([name]) => !name.includes("(key)"))) {
    await t.step(`after ${name}, a response asked for before it is not stored`, async () => {
      const o = origin(script);
      const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
      const answer = hold();
      const asked = session.fetch(URL_A);
      await until(() => o.calls === 1);
      await remove(session, "");
      answer();
      await (await asked).text();
      const after = await session.fetch(URL_A);
      assertEquals(after.fromCache, false);
      await after.text();
      await session.close();
    });
  }
});

Deno.test("RFC 9111 §4.4: a request after a clear does not share what an identical one got before it, while that one's write is undone", async () => {
  let version = 1;
  const clock = new Clock();
  const o = origin(() =>
    reply(`v${version}`, { "cache-control": "max-age=60", etag: `"v${version}"` }, { clock })
  );
  const storage = new HeldDeletes();
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, backend: new CacheBackend(storage) });
  const first = await session.fetch(URL_A);
  await first.body!.cancel(); // the cache reads on and stores the body: the request leads until then
  await until(() => storage.held === 1);
  storage.holdDeletes();
  const clearing = session.cache.clear(); // waits for the write under way, which is then undone
  storage.release();
  await clearing;
  version++;
  // The undo has not landed: the first request still holds its lead, settled with v1.
  const after = await session.fetch(URL_A);
  assertEquals([after.fromCache, await after.text(), o.calls], [false, "v2", 2]);
  // Nor is v1 the version a caller that names it may keep.
  const named = await session.fetch(URL_A, { headers: { "if-none-match": '"v1"' } });
  assertEquals([named.status, await named.text()], [200, "v2"]);
  storage.releaseDeletes();
  await session.close();
});

Deno.test("RFC 9111 §4.4: cache.delete(key) of a POST's or a HEAD's own entry keeps a response asked for before from being stored after", async (t) => {
  for (const method of ["POST", "HEAD"] as const) {
    await t.step(method, async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => release = resolve);
      const s = setup(() => async (_request, n) => {
        if (n === 2) await held; // the second response arrives after the delete
        return reply(method === "HEAD" ? null : `v${n}`, { "cache-control": "max-age=600", etag: `"v${n}"` });
      }, { allowedMethods: ["GET", "HEAD", "POST"] });
      const init = method === "POST" ? { method, body: "q" } : { method };
      await s.get(init);
      // (A HEAD's own entry is not under the key its response names, the GET's.)
      const [key] = await Array.fromAsync(s.session.cache.keys()) as [string];
      const later = s.get({ ...init, cache: "reload" });
      await until(() => s.origin.calls === 2);
      await s.session.cache.delete(key);
      release();
      await later;
      await s.session.close(); // waits for the write
      assertEquals(await s.session.cache.get(key), undefined);
    });
  }
});

Deno.test("RFC 9111 §4.4: an invalidation that cannot reach the storage holds once the storage is back", async (t) => {
  const { clock, script, version } = changingResource("max-age=60");
  const removals: [string, (session: CachedSession) => Promise<unknown>][] = [
    ["a POST", async (session) => await (await session.fetch(URL_A, { method: "POST", body: "x" })).text()],
    ["cache.deleteUrls", (session) => session.cache.deleteUrls(URL_A).catch(() => {})],
  ];
  /** A session over a storage that can be switched off, and the failures it reports. */
  const setup = () => {
    const storage = new Switched(new MemoryStorage());
    const failures: unknown[] = [];
    const session = new CachedSession({
      fetch: origin(script).fetch,
      now: clock.fn,
      backend: new CacheBackend(storage),
      onError: (error) => failures.push(error),
    });
    return { storage, failures, session };
  };
  for (const [name, remove] of removals) {
    await t.step(`${name} while the storage is down`, async () => {
      const { storage, failures, session } = setup();
      await (await session.fetch(URL_A)).text();
      storage.down = true;
      await remove(session);
      storage.down = false;
      // What is stored for the URL predates the removal: the storage is asked to delete it again.
      const after = await session.fetch(URL_A);
      assertEquals([after.fromCache, await after.text()], [false, `v${version()}`]);
      // That delete succeeded: what the origin sends from now on is served from the cache again.
      const again = await session.fetch(URL_A);
      assertEquals([again.fromCache, await again.text()], [true, `v${version()}`]);
      assertEquals(failures.length, name === "a POST" ? 1 : 0);
      await session.close();
    });
  }
  await t.step(
    "a read that finds what the failed invalidation left, while deletes still fail, is a miss",
    async () => {
      const { storage, failures, session } = setup();
      await (await session.fetch(URL_A)).text();
      storage.down = true;
      await (await session.fetch(URL_A, { method: "POST", body: "x" })).text();
      // Reads come back; deletes do not: the delete made again fails, is reported, and the fetch
      // still gets the origin's answer (the cache never makes a fetch fail).
      storage.down = false;
      const remove = storage.delete;
      storage.delete = () => Promise.reject(new Error("delete refused"));
      try {
        const after = await session.fetch(URL_A);
        assertEquals([after.fromCache, await after.text()], [false, `v${version()}`]);
        assertEquals(failures.length, 2);
      } finally {
        storage.delete = remove;
        await session.close();
      }
    },
  );
});

Deno.test("RFC 9111 §4.4: a delete made again after the storage is back deletes what the failed one was to", async (t) => {
  const o = origin(async (request) =>
    reply(`${request.method} ${await request.text()}`, { "cache-control": "max-age=60" })
  );
  // Whether a GET was stored after the POST (whose invalidation dropped any GET stored before).
  for (const getStored of [true, false]) {
    await t.step(getStored ? "a GET entry is stored" : "no GET entry is stored", async () => {
      const storage = new Switched(new MemoryStorage());
      const session = new CachedSession({
        fetch: o.fetch,
        backend: new CacheBackend(storage),
        allowedMethods: ["GET", "POST"],
        onError: () => {},
      });
      const post = (body: string) => session.fetch(URL_A, { method: "POST", body });
      if (!getStored) await (await session.fetch(URL_A)).text();
      await (await post("one")).text();
      if (getStored) await (await session.fetch(URL_A)).text();
      storage.down = true;
      await (await post("two")).text(); // would drop the GET entry, not the answers to other POSTs
      storage.down = false;
      const get = await session.fetch(URL_A); // deletes again, if it finds the GET entry
      assertEquals([get.fromCache, await get.text()], [false, "GET "]);
      const one = await post("one");
      assertEquals([one.fromCache, await one.text()], [true, "POST one"]);
      await session.close();
    });
  }
});

Deno.test("RFC 9111 §4.4: an error response to an unsafe method invalidates nothing", async () => {
  const s = setup((clock) => (request) =>
    request.method === "DELETE"
      ? reply("no", {}, { status: 500 })
      : reply("v", { "cache-control": "max-age=600" }, { clock })
  );
  await s.get();
  await s.session.fetch(URL_A, { method: "DELETE" });
  assertEquals((await s.get()).response.fromCache, true);
  await s.session.close();
});

Deno.test("Fetch redirect modes: manual, follow and error never answer one another", async () => {
  // hishel#361: a redirect stored for a request that did not follow it answered one that does.
  const s = setup((clock) => (request) => {
    if (new URL(request.url).pathname === "/new") {
      return reply("the new place", { "cache-control": "max-age=60" }, { clock });
    }
    if (request.redirect === "error") throw new TypeError("redirect mode is error");
    return reply(null, { location: "/new", "cache-control": "max-age=60" }, { status: 301, clock });
  });
  const seen = async (init: RequestInit = {}) => {
    const response = await s.session.fetch(new Request(URL_A, init));
    return `${response.fromCache} ${response.status} ${response.redirected} ${await response.text()}`;
  };
  assertEquals(await seen(), "false 200 true the new place");
  assertEquals(await seen({ redirect: "manual" }), "false 301 false ");
  assertEquals(await seen(), "true 200 true the new place");
  assertEquals(await seen({ redirect: "manual" }), "true 301 false ");
  await assertRejects(() => s.get({ redirect: "error" }), TypeError, "redirect mode is error");
  assertEquals(s.origin.requests.map((request) => `${new URL(request.url).pathname} ${request.redirect}`), [
    "/resource manual",
    "/new manual",
    "/resource manual",
    "/resource error",
  ]);
  await s.session.close();
});

Deno.test("Fetch §4.4 redirects: followed step by step, each step stored or not by its own headers", async (t) => {
  const redirects =
    (clock: Clock, to: () => string, headers: Record<string, string>): Script => (request) => {
      const path = new URL(request.url).pathname;
      if (path !== "/latest") return reply(`at ${path}`, { "cache-control": "max-age=600" }, { clock });
      return reply(`see ${to()}`, { location: to(), ...headers }, { status: 302, clock });
    };
  await t.step(
    "a redirect that may not be stored is asked again, and where it leads now is followed",
    async () => {
      // 06chaynes/http-cache#117: the target's entry answered for the redirecting URL.
      let target = "/v1";
      const s = setup((clock) => redirects(clock, () => target, { "cache-control": "no-store" }));
      const first = await s.session.fetch("http://127.0.0.1/latest");
      assertEquals([await first.text(), first.url, first.redirected], [
        "at /v1",
        "http://127.0.0.1/v1",
        true,
      ]);
      target = "/v2";
      const second = await s.session.fetch("http://127.0.0.1/latest");
      assertEquals([await second.text(), second.fromCache], ["at /v2", false]);
      const third = await s.session.fetch("http://127.0.0.1/latest");
      assertEquals([await third.text(), third.fromCache, s.origin.calls], ["at /v2", true, 5]);
      await s.session.close();
    },
  );
  await t.step("a redirect with freshness and where it leads are both answered from the cache", async () => {
    const s = setup((clock) => redirects(clock, () => "/v1#top", { "cache-control": "max-age=60" }));
    await (await s.session.fetch("http://127.0.0.1/latest#x")).text();
    const again = await s.session.fetch("http://127.0.0.1/latest");
    assertEquals([await again.text(), again.fromCache, again.redirected, s.origin.calls], [
      "at /v1",
      true,
      true,
      2,
    ]);
    // A HEAD follows the same steps, and stays a HEAD.
    const head = await s.session.fetch("http://127.0.0.1/latest", { method: "HEAD" });
    assertEquals([head.status, head.body, head.fromCache, s.origin.calls], [200, null, true, 2]);
    // only-if-cached: every step from the cache.
    const cached = await s.session.fetch("http://127.0.0.1/latest", { cache: "only-if-cached" });
    assertEquals([cached.status, await cached.text()], [200, "at /v1"]);
    await s.session.close();
  });
  await t.step("credentials do not follow a redirect to another origin", async () => {
    const s = setup((clock) => (request) =>
      request.url.startsWith("http://127.0.0.1/")
        ? reply(null, { location: "http://localhost/elsewhere" }, { status: 307, clock })
        : reply(`auth ${request.headers.get("authorization")}, ${request.headers.get("accept")}`, {}, {
          clock,
        })
    );
    const response = await s.session.fetch(URL_A, {
      headers: { authorization: "Bearer alice", accept: "x/y" },
    });
    assertEquals(await response.text(), "auth null, x/y");
    assertEquals(s.origin.requests[0]!.headers.get("authorization"), "Bearer alice");
    await s.session.close();
  });
  await t.step(
    "what fetch refuses is refused: too many redirects, a Location of another scheme",
    async () => {
      const loop = setup((clock) => () => reply(null, { location: "/resource" }, { status: 301, clock }));
      await assertRejects(() => loop.get(), TypeError, "more than 20 redirects");
      assertEquals(loop.origin.calls, 21);
      await loop.session.close();
      const ftp = setup((clock) => () =>
        reply(null, { location: "ftp://127.0.0.1/" }, { status: 302, clock })
      );
      await assertRejects(() => ftp.get(), TypeError, "ftp:");
      await ftp.session.close();
    },
  );
  await t.step(
    "a fetch that hides redirects from redirect: manual, as a browser's does, is let follow them",
    async () => {
      // A browser answers redirect: "manual" with an opaque redirect: status 0, no Location.
      const hidden = () => {
        const response = new Response(null);
        return Object.defineProperties(response, {
          type: { value: "opaqueredirect" },
          status: { value: 0 },
          headers: { value: new Headers() },
        });
      };
      let manualAsks = 0;
      const s: Scripted = setup(
        (clock) => redirects(clock, () => "/v1", { "cache-control": "max-age=60" }),
        {
          fetch: async (input, init) => {
            const request = new Request(input, init);
            let response = await s.origin.fetch(request);
            if (request.redirect === "manual") {
              manualAsks++;
              return response.status === 302 ? hidden() : response;
            }
            let url = request.url;
            while (response.status === 302) {
              url = new URL(response.headers.get("location")!, url).href;
              response = await s.origin.fetch(url, { headers: request.headers });
              Object.defineProperties(response, { url: { value: url }, redirected: { value: true } });
            }
            return response;
          },
        },
      );
      const first = await s.session.fetch("http://127.0.0.1/latest");
      assertEquals([first.status, await first.text(), first.url, first.redirected], [
        200,
        "at /v1",
        "http://127.0.0.1/v1",
        true,
      ]);
      // Asked once with redirect: "manual", once more to follow; from then on, to follow at once.
      const next = await s.session.fetch("http://127.0.0.1/latest?page=2");
      assertEquals([await next.text(), next.redirected, manualAsks, s.origin.calls], ["at /v1", true, 1, 5]);
      // What the redirects led to is stored under the URL asked for, as with any fetch that follows.
      const again = await s.session.fetch("http://127.0.0.1/latest?page=2");
      assertEquals([await again.text(), again.fromCache, s.origin.calls], ["at /v1", true, 5]);
      await s.session.close();
    },
  );
  await t.step("a 3xx without Location is an answer, not a redirect", async () => {
    const s = setup((clock) => () => reply("choose", {}, { status: 300, clock }));
    const response = await s.session.fetch(URL_A);
    assertEquals([response.status, response.redirected, await response.text()], [300, false, "choose"]);
    await s.session.close();
    // A redirect status without Location too (Fetch §4.4: the location URL is null).
    const bare = setup((clock) => () => reply("no location", {}, { status: 302, clock }));
    const answer = await bare.session.fetch(URL_A);
    assertEquals([answer.status, answer.redirected, await answer.text(), bare.origin.calls], [
      302,
      false,
      "no location",
      1,
    ]);
    await bare.session.close();
  });
  await t.step("a Location on a status that is not a redirect status is an answer too", async () => {
    // Fetch follows 301, 302, 303, 307 and 308 only: 300 Multiple Choices and 201 Created name a
    // URL for the client to choose or use, not one to fetch instead.
    for (const status of [200, 201, 300]) {
      const s = setup((clock) => () =>
        reply(`status ${status}`, { location: "/elsewhere" }, { status, clock })
      );
      const response = await s.session.fetch(URL_A);
      assertEquals([response.status, response.redirected, await response.text(), s.origin.calls], [
        status,
        false,
        `status ${status}`,
        1,
      ]);
      await s.session.close();
    }
  });
});

Deno.test("RFC 9110 §9.3.2: a HEAD response is stored on its own, answers HEADs only, and gives way to a GET", async (t) => {
  const script = (clock: Clock): Script => (request) =>
    request.method === "POST"
      ? reply("done", {}, { clock })
      : reply(request.method === "HEAD" ? null : "full body", {
        "cache-control": "max-age=60",
        "content-length": "9",
        etag: '"v1"',
      }, { clock });
  await t.step("stored, and answers a HEAD, with a Range too", async () => {
    const s = setup(script);
    await s.get({ method: "HEAD" });
    const head = await s.session.fetch(URL_A, { method: "HEAD" });
    assertEquals([head.fromCache, head.body, head.headers.get("content-length")], [true, null, "9"]);
    const ranged = await s.session.fetch(URL_A, { method: "HEAD", headers: { range: "bytes=0-3" } });
    assertEquals([ranged.status, ranged.fromCache, ranged.body], [200, true, null]);
    // Inspection shows it as it came: its length, no body.
    const listed: string[] = [];
    for await (const response of s.session.cache.responses()) {
      listed.push(`${response.headers.get("content-length")} ${response.body === null}`);
    }
    assertEquals(listed, ["9 true"]);
    // A GET is never answered from it, and once stored, it answers the HEADs.
    const get = await s.get();
    assertEquals([get.response.fromCache, get.body], [false, "full body"]);
    assertEquals((await s.session.fetch(URL_A, { method: "HEAD" })).fromCache, true);
    assertEquals(s.origin.requests.map((request) => request.method), ["HEAD", "GET"]);
    await s.session.close();
  });
  await t.step("revalidated when stale, invalidated by a POST", async () => {
    const s = setup((clock) => (request) =>
      request.headers.get("if-none-match") === '"v1"'
        ? reply(null, { "cache-control": "max-age=60", etag: '"v1"' }, { status: 304, clock })
        : script(clock)(request, 0)
    );
    await s.get({ method: "HEAD" });
    s.clock.tick(61);
    const revalidated = await s.session.fetch(URL_A, { method: "HEAD" });
    assertEquals([revalidated.revalidated, revalidated.headers.get("content-length")], [true, "9"]);
    assertEquals((await s.session.fetch(URL_A, { method: "HEAD" })).fromCache, true);
    await s.get({ method: "POST", body: "x" });
    assertEquals((await s.session.fetch(URL_A, { method: "HEAD" })).fromCache, false);
    await s.session.close();
  });
  await t.step("not stored when allowedMethods leaves HEAD out", async () => {
    const s = setup(script, { allowedMethods: ["GET"] });
    await s.get({ method: "HEAD" });
    assertEquals((await s.session.fetch(URL_A, { method: "HEAD" })).fromCache, false);
    await s.session.close();
  });
  await t.step(
    "with allowedMethods GET only, a reload HEAD goes to the origin and leaves the stored GET",
    async () => {
      const errors: unknown[] = [];
      const storage = new ReadKeys();
      const s = setup(script, {
        allowedMethods: ["GET"],
        backend: new CacheBackend(storage),
        onError: (error) => errors.push(error),
      });
      await s.get();
      const before = storage.read.length;
      const reload = await s.session.fetch(URL_A, { method: "HEAD", cache: "reload" });
      // A reload reads only the stored GET response its HEAD response describes (RFC 9111
      // §4.3.5), the one slot a GET reads: a HEAD's own has none here.
      const readByReload = storage.read.slice(before);
      assertEquals([reload.status, reload.fromCache, reload.body, reload.headers.get("content-length")], [
        200,
        false,
        null,
        "9",
      ]);
      // Nothing stored for it: the GET answers both methods, as before.
      const atGet = storage.read.length;
      const get = await s.get();
      assertEquals(readByReload, storage.read.slice(atGet));
      const head = await s.session.fetch(URL_A, { method: "HEAD" });
      assertEquals([get.response.fromCache, get.body, head.fromCache, head.body], [
        true,
        "full body",
        true,
        null,
      ]);
      assertEquals(await s.session.cache.count(), 1);
      assertEquals(s.origin.requests.map((request) => request.method), ["GET", "HEAD"]);
      assertEquals(errors, []);
      await s.session.close();
    },
  );
});

Deno.test("HEAD is answered from a stored GET, without a body", async () => {
  const s = setup((clock) => () =>
    reply("full body", { "cache-control": "max-age=60", "content-length": "9" }, { clock })
  );
  await s.get();
  const head = await s.session.fetch(URL_A, { method: "HEAD" });
  assertEquals([head.fromCache, head.body, head.headers.get("content-length"), s.origin.calls], [
    true,
    null,
    "9",
    1,
  ]);
  await s.session.close();
});

/** Status, `Content-Range` and body of the answer to a request for `value` of `URL_A`. */
async function answerToRange(s: Scripted, value: string): Promise<[number, string | null, string]> {
  const r = await s.session.fetch(URL_A, { headers: { range: value } });
  return [r.status, r.headers.get("content-range"), await r.text()];
}

Deno.test("RFC 9110 §14 Range: a stored complete response answers single ranges with 206", async () => {
  const s = setup((clock) => () => reply("0123456789", { "cache-control": "max-age=60" }, { clock }));
  await s.get();
  const range = (value: string) => answerToRange(s, value);
  assertEquals(await range("bytes=2-4"), [206, "bytes 2-4/10", "234"]);
  assertEquals(await range("bytes=7-"), [206, "bytes 7-9/10", "789"]);
  assertEquals(await range("bytes=-3"), [206, "bytes 7-9/10", "789"]);
  assertEquals(await range("bytes=5-100"), [206, "bytes 5-9/10", "56789"]);
  assertEquals(await range("bytes=20-"), [416, "bytes */10", ""]);
  assertEquals(await range("bytes=0-1,4-5"), [200, null, "0123456789"]);
  // §14.1.1: a range with its last position before its first, or with neither, is invalid, and the
  // field is ignored; a suffix of length 0 selects nothing.
  assertEquals(await range("bytes=5-3"), [200, null, "0123456789"]);
  assertEquals(await range("bytes=-"), [200, null, "0123456789"]);
  assertEquals(await range("bytes=-0"), [416, "bytes */10", ""]);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

Deno.test("RFC 9110 §14.2 Range: a HEAD ignores Range, and a content-coded response is answered whole", async (t) => {
  // The stored body of a coded response is what fetch decoded; a range counts in coded bytes.
  const coded = `${URL_A}?coded`;
  const s = setup((clock) => (request) =>
    reply("0123456789", {
      "cache-control": "max-age=60",
      ...(request.url === coded ? { "content-encoding": "gzip" } : {}),
    }, { clock })
  );
  await s.get();
  await t.step("HEAD with Range, from a stored GET: 200", async () => {
    for (const value of ["bytes=0-3", "bytes=50-"]) {
      const head = await s.session.fetch(URL_A, { method: "HEAD", headers: { range: value } });
      assertEquals([head.status, head.fromCache, head.headers.get("content-range")], [200, true, null]);
    }
  });
  await t.step("GET with Range of a coded response: the whole 200", async () => {
    await s.get(undefined, coded);
    const ranged = await s.session.fetch(coded, { headers: { range: "bytes=0-3" } });
    assertEquals([ranged.status, ranged.fromCache, await ranged.text()], [200, true, "0123456789"]);
  });
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

Deno.test("RFC 9110 §14.1.1 Range: an empty stored body answers a suffix range with the whole 200, a range from a position with 416", async () => {
  // A suffix range of non-zero length is satisfiable however short the body; of an empty body it
  // selects no byte, which no Content-Range can say: the cache ignores the field (§14.2).
  const s = setup((clock) => () => reply("", { "cache-control": "max-age=60" }, { clock }));
  await s.get();
  const range = (value: string) => answerToRange(s, value);
  assertEquals(await range("bytes=-5"), [200, null, ""]);
  assertEquals(await range("bytes=0-"), [416, "bytes */0", ""]);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

Deno.test("a 206 is never stored, so never served as a 200", async () => {
  const s = setup(() => () =>
    reply("23", { "cache-control": "max-age=60", "content-range": "bytes 2-3/10" }, { status: 206 })
  );
  await s.session.fetch(URL_A, { headers: { range: "bytes=2-3" } });
  const full = await s.get();
  assertEquals([full.response.fromCache, s.origin.calls], [false, 2]);
  await s.session.close();
});

Deno.test("served responses carry Age; hop-by-hop and Connection-nominated fields are not stored", async () => {
  const s = setup((clock) => () =>
    reply("x", {
      "cache-control": "max-age=600",
      connection: "x-hop",
      "x-hop": "1",
      "keep-alive": "timeout=5",
      "x-kept": "1",
    }, { clock })
  );
  await s.get();
  s.clock.tick(42);
  const { response } = await s.get();
  assertEquals(response.headers.get("age"), "42");
  assertEquals([
    response.headers.get("x-hop"),
    response.headers.get("keep-alive"),
    response.headers.get("x-kept"),
  ], [null, null, "1"]);
  await s.session.close();
});

Deno.test("Set-Cookie is not stored unless storeSetCookie is on", async () => {
  for (const storeSetCookie of [false, true]) {
    const s = setup(
      (clock) => () => reply("x", { "cache-control": "max-age=60", "set-cookie": "sid=1" }, { clock }),
      { storeSetCookie },
    );
    await s.get();
    const { response } = await s.get();
    assertEquals([response.fromCache, response.headers.get("set-cookie")], [
      true,
      storeSetCookie ? "sid=1" : null,
    ]);
    await s.session.close();
  }
});

Deno.test("Set-Cookie that a session keeping it stored is not served by one on the same backend that does not", async () => {
  const clock = new Clock();
  const o = origin(() => reply("x", { "cache-control": "max-age=60", "set-cookie": "sid=1" }, { clock }));
  const options = { backend: new MemoryBackend(), fetch: o.fetch, now: clock.fn };
  const keeping = new CachedSession({ ...options, storeSetCookie: true });
  const others = [new CachedSession(options), new CachedSession({ ...options, cacheControl: false })];
  await (await keeping.fetch(URL_A)).text();
  for (const session of others) {
    const response = await session.fetch(URL_A);
    assertEquals([response.fromCache, response.headers.get("set-cookie"), await response.text()], [
      true,
      null,
      "x",
    ]);
  }
  const kept = await keeping.fetch(URL_A);
  assertEquals([kept.fromCache, kept.headers.get("set-cookie")], [true, "sid=1"]);
  for (const session of [keeping, ...others]) await session.close();
});

Deno.test("RFC 9111 §3.2: a 304's field that a session does not store still retires the stored one", async () => {
  const clock = new Clock();
  const o = origin((request, n) =>
    request.headers.get("if-none-match") === '"e"'
      ? reply(null, { etag: '"e"', "cache-control": "max-age=60", "set-cookie": `sid=${n}` }, {
        status: 304,
        clock,
      })
      : reply("x", { etag: '"e"', "cache-control": "max-age=0", "set-cookie": `sid=${n}` }, { clock })
  );
  const options = { backend: new MemoryBackend(), fetch: o.fetch, now: clock.fn };
  const keeping = new CachedSession({ ...options, storeSetCookie: true });
  const other = new CachedSession(options);
  await (await keeping.fetch(URL_A)).text();
  // The other session revalidates: the origin sets a new cookie, which its caller gets (as from
  // fetch) and the session does not store.
  const revalidated = await other.fetch(URL_A);
  assertEquals([revalidated.revalidated, revalidated.headers.get("set-cookie")], [true, "sid=2"]);
  // The keeping session must not serve the cookie the origin has replaced since.
  const kept = await keeping.fetch(URL_A);
  assertEquals([kept.fromCache, kept.headers.get("set-cookie")], [true, null]);
  for (const session of [keeping, other]) await session.close();
});

Deno.test("RFC 9111 §5.2.1.1: a request's max-age accepts a response exactly that old, and no older", async () => {
  const s = setup((clock) => (_r, n) => reply(`v${n}`, { "cache-control": "max-age=100" }, { clock }));
  await s.get();
  s.clock.tick(30);
  // "the client prefers a response whose age is less than or equal to the specified number of seconds"
  assertEquals((await s.get({ headers: { "cache-control": "max-age=30" } })).body, "v1");
  assertEquals((await s.get({ headers: { "cache-control": "max-age=29" } })).body, "v2");
  await s.session.close();
});

Deno.test("RFC 9111 §3 storing: a response with neither freshness nor a validator is not stored, even where the session's staleWhileRevalidate could serve it", async () => {
  const s = setup(() => (_r, n) => reply(`v${n}`, {}), { staleWhileRevalidate: 60 });
  await s.get();
  const { response, body } = await s.get();
  assertEquals([response.fromCache, body, s.origin.calls], [false, "v2", 2]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.2.1: an Expires lifetime is Expires − Date to the millisecond: fresh until its last moment", async () => {
  const s = setup((clock) => (_r, n) => reply(`v${n}`, { expires: date(clock, 1000) }, { clock }));
  await s.get();
  s.clock.tick(999.5);
  assertEquals((await s.get()).body, "v1");
  s.clock.tick(1);
  assertEquals((await s.get()).body, "v2");
  await s.session.close();
});

Deno.test("RFC 9110 §14.1.2 Range: a suffix longer than the body, and a range of one byte, are answered with 206", async () => {
  const s = setup((clock) => () => reply("0123456789", { "cache-control": "max-age=60" }, { clock }));
  await s.get();
  assertEquals(await answerToRange(s, "bytes=-20"), [206, "bytes 0-9/10", "0123456789"]);
  assertEquals(await answerToRange(s, "bytes=5-5"), [206, "bytes 5-5/10", "5"]);
  assertEquals(await answerToRange(s, "bytes=0-0"), [206, "bytes 0-0/10", "0"]);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

Deno.test("RFC 9110 §15.5.17 Range: a 416 from storage carries no Content-Length of the stored body", async () => {
  const s = setup((clock) => () =>
    reply("0123456789", { "cache-control": "max-age=60", "content-length": "10" }, { clock })
  );
  await s.get();
  const r = await s.session.fetch(URL_A, { headers: { range: "bytes=20-" } });
  assertEquals(
    [r.status, r.fromCache, r.headers.get("content-range"), r.headers.get("content-length"), await r.text()],
    [416, true, "bytes */10", null, ""],
  );
  await s.session.close();
});

Deno.test("RFC 9110 §13.1.3: an If-Modified-Since equal to the stored Last-Modified is answered 304 from storage", async () => {
  const s = setup((clock) => () =>
    reply("payload", { "cache-control": "max-age=60", "last-modified": date(clock, -100) }, { clock })
  );
  const first = await s.get();
  const lastModified = first.response.headers.get("last-modified")!;
  const again = await s.session.fetch(URL_A, { headers: { "if-modified-since": lastModified } });
  assertEquals([again.status, again.fromCache, await again.text()], [304, true, ""]);
  const older = new Date(Date.parse(lastModified) - 1000).toUTCString();
  // (One the stored response does not satisfy goes to the origin as it is, §4.3.2.)
  const changed = await s.session.fetch(URL_A, { headers: { "if-modified-since": older } });
  assertEquals([changed.status, changed.fromCache, await changed.text()], [200, false, "payload"]);
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

Deno.test("RFC 9111 §3.2: a 304 leaves the stored Content-Digest (and Content-MD5) of the stored body as they were", async () => {
  const stored = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
  const s = setup((clock) => (request) => {
    if (request.headers.get("if-none-match") === '"v1"') {
      return new Response(null, {
        status: 304,
        headers: {
          etag: '"v1"',
          "cache-control": "max-age=60",
          "content-digest": "sha-256=:AAAA:",
          "content-md5": "AAAA",
          "x-updated": "yes",
          date: date(clock),
        },
      });
    }
    return reply("payload", {
      "cache-control": "max-age=10",
      etag: '"v1"',
      "content-digest": stored,
      "content-md5": "stored",
    }, { clock });
  });
  await s.get();
  s.clock.tick(20);
  const revalidated = await s.get();
  assertEquals([
    revalidated.response.revalidated,
    revalidated.response.headers.get("x-updated"),
    revalidated.response.headers.get("content-digest"),
    revalidated.response.headers.get("content-md5"),
    revalidated.body,
  ], [true, "yes", stored, "stored", "payload"]);
  await s.session.close();
});

Deno.test("a rate-limit answer (429, or GitHub's 403) to a stale stored response's request deletes nothing: the next request still revalidates it, and stale-if-error still serves it", async () => {
  for (const limited of [429, 403]) {
    const s = setup((clock) => (request, n) => {
      if (n === 1) {
        return reply("v1", { "cache-control": "max-age=10, stale-if-error=600", etag: '"v1"' }, { clock });
      }
      if (n === 2) return reply("slow down", { "retry-after": "1" }, { status: limited, clock });
      if (n === 3) return reply("down", {}, { status: 503, clock });
      return request.headers.get("if-none-match") === '"v1"'
        ? new Response(null, { status: 304, headers: { etag: '"v1"', "cache-control": "max-age=10" } })
        : reply("v1 again", { "cache-control": "max-age=10", etag: '"v1"' }, { clock });
    });
    assertEquals((await s.get()).body, "v1");
    s.clock.tick(20);
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const { response, body } = await s.get();
      answers.push(`${response.status} ${response.fromCache} ${body}`);
    }
    assertEquals(answers, [`${limited} false slow down`, "200 true v1", "200 true v1"], String(limited));
    assertEquals(s.origin.requests[3]!.headers.get("if-none-match"), '"v1"');
    await s.session.close();
  }
});
