import { assert, assertEquals, assertInstanceOf, assertRejects, assertThrows } from "./_assert.ts";
import {
  BackendError,
  CacheBackend,
  CachedResponse,
  CachedSession,
  DO_NOT_CACHE,
  EXPIRE_IMMEDIATELY,
  MemoryBackend,
  NEVER_EXPIRE,
} from "../mod.ts";
import { MemoryStorage } from "../backends/memory.ts";
import {
  type CacheEntry,
  decodeRecord,
  encodeEntry,
  OtherVersionError,
  RECORD_VERSION,
} from "../src/record.ts";
import { UNSERVABLE_FIELDS } from "./_entry.ts";
import { Switched } from "./_fixtures.ts";
import { Clock, origin, reply } from "./_origin.ts";

const URL_A = "http://127.0.0.1/a";

function counting(body = "hello", headers: Record<string, string> = { "cache-control": "max-age=60" }) {
  return origin((_request, n) => reply(`${body} ${n}`, headers));
}

Deno.test("session: a miss is fetched and stored, the next request is a hit with the same response", async () => {
  const o = counting("body", { "cache-control": "max-age=60", "x-custom": "1" });
  const session = new CachedSession({ fetch: o.fetch });
  const miss = await session.fetch(URL_A);
  assertInstanceOf(miss, Response);
  assertInstanceOf(miss, CachedResponse);
  assertEquals([miss.fromCache, miss.revalidated, await miss.text()], [false, false, "body 1"]);
  const hit = await session.fetch(URL_A);
  assertEquals([hit.fromCache, hit.status, hit.headers.get("x-custom"), await hit.text()], [
    true,
    200,
    "1",
    "body 1",
  ]);
  assertEquals(hit.cacheKey, miss.cacheKey);
  assertEquals(o.calls, 1);
  await session.close();
});

Deno.test("session: fetch handed on alone, as a library's fetch option, is still its session's", async () => {
  // It read its session from `this`, which such a call does not give: every request threw
  // "Cannot read properties of undefined (reading '#monitor')".
  const o = counting("body", { "cache-control": "max-age=60" });
  const inner = new CachedSession({ fetch: o.fetch });
  const { fetch } = inner;
  assertEquals(await (await fetch(URL_A)).text(), "body 1");
  const hit = await fetch(URL_A);
  assertEquals([hit.fromCache, await hit.text(), o.calls], [true, "body 1", 1]);
  const outer = new CachedSession({ fetch });
  assertEquals(await (await outer.fetch(URL_A, { redirect: "error" })).text(), "body 2");
  await outer.close();
  await inner.close();
});

Deno.test("session: a cached response is a real Response: body once per call, clone works, metadata kept", async () => {
  const o = counting();
  const session = new CachedSession({ fetch: o.fetch });
  await (await session.fetch(URL_A)).text();
  const hit = await session.fetch(URL_A);
  const copy = hit.clone();
  assertInstanceOf(copy, CachedResponse);
  assertEquals([copy.fromCache, copy.cacheKey, copy.url], [true, hit.cacheKey, URL_A]);
  assertEquals(await hit.text(), await copy.text());
  await assertRejects(() => hit.text(), TypeError);
  assertEquals(await (await session.fetch(URL_A)).text(), "hello 1");
  await session.close();
});

Deno.test("session: url and redirected of a cached response are those of the original", async () => {
  const o = origin((request) => {
    const response = reply("moved here", { "cache-control": "max-age=60" });
    Object.defineProperty(response, "url", { value: new URL("/final", request.url).href });
    Object.defineProperty(response, "redirected", { value: true });
    return response;
  });
  const session = new CachedSession({ fetch: o.fetch });
  await (await session.fetch("http://127.0.0.1/start")).text();
  const hit = await session.fetch("http://127.0.0.1/start");
  assertEquals([hit.fromCache, hit.url, hit.redirected], [true, "http://127.0.0.1/final", true]);
  // A response reached through redirects is also found under its final URL.
  const direct = await session.fetch("http://127.0.0.1/final");
  assertEquals([direct.fromCache, direct.url, direct.redirected, await direct.text()], [
    true,
    "http://127.0.0.1/final",
    false,
    "moved here",
  ]);
  assertEquals(o.calls, 1);
  await session.close();
});

Deno.test("session: fetch takes a string, a URL or a Request, with headers, signal and redirect", async () => {
  const o = counting();
  const session = new CachedSession({ fetch: o.fetch });
  await (await session.fetch(new URL(URL_A))).text();
  assert((await session.fetch(URL_A)).fromCache);
  // A redirect mode other than "follow" is keyed apart: it may be answered with the redirect itself.
  await (await session.fetch(new Request(URL_A, { redirect: "manual" }))).text();
  assert((await session.fetch(new Request(URL_A, { redirect: "manual" }))).fromCache);
  const controller = new AbortController();
  assert(
    (await session.fetch(URL_A, { signal: controller.signal, headers: { accept: "text/plain" } })).fromCache,
  );
  assertEquals(o.calls, 2);
  await session.close();
});

Deno.test("session: invalid URLs reject as plain fetch does", async () => {
  const session = new CachedSession({ fetch: (input, init) => fetch(input, init) });
  await assertRejects(() => session.fetch("not a url"), TypeError);
  await assertRejects(() => session.fetch("http://"), TypeError);
  await session.close();
});

Deno.test("session: POST bodies are part of the key and the caller's Request stays readable", async () => {
  const o = origin(async (request) =>
    reply(`echo ${await request.text()}`, { "cache-control": "max-age=60" })
  );
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  const post = (body: string) => session.fetch(URL_A, { method: "POST", body });
  assertEquals(await (await post("one")).text(), "echo one");
  assertEquals(await (await post("two")).text(), "echo two");
  const again = await post("one");
  assertEquals([again.fromCache, await again.text()], [true, "echo one"]);
  const request = new Request(URL_A, { method: "POST", body: "three" });
  assertEquals(await (await session.fetch(request)).text(), "echo three");
  assertEquals(o.calls, 3);
  await session.close();
});

Deno.test("session: with POST cached, a POST keeps the answers to other POSTs, and a PUT drops them", async () => {
  const o = origin(async (request) =>
    reply(`${request.method} ${await request.text()}`, { "cache-control": "max-age=60" })
  );
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  const post = (body: string) => session.fetch(URL_A, { method: "POST", body });
  await (await post("one")).text();
  await (await post("two")).text();
  const again = await post("one");
  assertEquals([again.fromCache, await again.text()], [true, "POST one"]);
  // RFC 9111 §4.4: an unsafe request the session does not store invalidates every method's entries.
  await (await session.fetch(URL_A, { method: "PUT", body: "x" })).text();
  const after = await post("one");
  assertEquals([after.fromCache, await after.text()], [false, "POST one"]);
  await session.close();
});

Deno.test("session: POST is not cached unless allowed, and then invalidates the URL", async () => {
  const o = counting();
  const session = new CachedSession({ fetch: o.fetch });
  await (await session.fetch(URL_A)).text();
  await (await session.fetch(URL_A, { method: "POST", body: "x" })).text();
  const after = await session.fetch(URL_A);
  assertEquals([after.fromCache, await after.text()], [false, "hello 3"]);
  await session.close();
});

Deno.test("session: DO_NOT_CACHE bypasses the cache, whatever the response says", async (t) => {
  const o = counting("x", { "cache-control": "max-age=60" });
  const backend = new MemoryBackend();
  const plain = new CachedSession({ fetch: o.fetch, backend });
  const live = "http://127.0.0.1/live/scores";
  // Another session on the backend has stored both URLs, fresh for a minute.
  for (const url of [URL_A, live]) await (await plain.fetch(url)).text();
  const session = new CachedSession({
    fetch: o.fetch,
    backend,
    urlsExpireAfter: { "127.0.0.1/live/*": DO_NOT_CACHE },
  });
  const twice = async (url: string, init?: { expireAfter?: number }) => {
    const responses = [await session.fetch(url, init), await session.fetch(url, init)];
    for (const response of responses) await response.text();
    return responses.map((response) => response.fromCache);
  };
  await t.step("a URL pattern's DO_NOT_CACHE: neither read nor stored", async () => {
    assertEquals(await twice(live), [false, false]);
  });
  await t.step("a request that takes only stored responses gets a 504, not the origin's", async () => {
    const calls = o.calls;
    const response = await session.fetch(live, { cache: "only-if-cached" });
    assertEquals([response.status, o.calls], [504, calls]);
  });
  await t.step("a request's own DO_NOT_CACHE: neither read nor stored", async () => {
    assertEquals(await twice(URL_A, { expireAfter: DO_NOT_CACHE }), [false, false]);
    assertEquals(await twice("http://127.0.0.1/new", { expireAfter: DO_NOT_CACHE }), [false, false]);
  });
  await t.step("a request's own expireAfter comes before the URL pattern's", async () => {
    assertEquals(await twice(live, { expireAfter: 30 }), [true, true]);
    assertEquals(await twice("http://127.0.0.1/live/new", { expireAfter: 30 }), [false, true]);
  });
  await t.step("the session's DO_NOT_CACHE yields to a URL pattern", async () => {
    const strict = new CachedSession({
      fetch: o.fetch,
      expireAfter: DO_NOT_CACHE,
      urlsExpireAfter: { "127.0.0.1/static/*": 60 },
    });
    const fromCache = async (url: string) => {
      const responses = [await strict.fetch(url), await strict.fetch(url)];
      for (const response of responses) await response.text();
      return responses[1]!.fromCache;
    };
    assertEquals([await fromCache(URL_A), await fromCache("http://127.0.0.1/static/app.js")], [false, true]);
    await strict.close();
  });
  for (const each of [plain, session]) await each.close();
});

Deno.test("session: init.expireAfter overrides everything for that request", async () => {
  const clock = new Clock();
  const o = counting("x", { "cache-control": "max-age=5" });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, expireAfter: 1 });
  const created = clock.now;
  const first = await session.fetch(URL_A, { expireAfter: 100 });
  await first.text();
  assertEquals([first.createdAt?.getTime(), first.expiresAt?.getTime()], [created, created + 100_000]);
  clock.tick(50);
  const hit = await session.fetch(URL_A);
  assertEquals([hit.fromCache, hit.createdAt?.getTime(), hit.expiresAt?.getTime()], [
    true,
    created,
    created + 100_000,
  ]);
  const unstored = await session.fetch("http://127.0.0.1/b", { expireAfter: DO_NOT_CACHE });
  await unstored.text();
  assertEquals([unstored.createdAt, unstored.expiresAt], [undefined, undefined]);
  assert(!(await session.fetch("http://127.0.0.1/b")).fromCache);
  await (await session.fetch("http://127.0.0.1/c", { expireAfter: NEVER_EXPIRE })).text();
  clock.tick(1e9);
  const never = await session.fetch("http://127.0.0.1/c");
  assertEquals([never.fromCache, never.expiresAt, never.isExpired], [true, undefined, false]);
  await assertRejects(() => session.fetch(URL_A, { expireAfter: -5 }), RangeError, "expireAfter");
  await session.close();
});

Deno.test("session: EXPIRE_IMMEDIATELY stores a response that is revalidated before every use", async () => {
  const o = origin((request) =>
    request.headers.get("if-none-match") === '"v1"'
      ? new Response(null, { status: 304, headers: { etag: '"v1"' } })
      : reply("body", { etag: '"v1"' })
  );
  const session = new CachedSession({ fetch: o.fetch, expireAfter: EXPIRE_IMMEDIATELY });
  await (await session.fetch(URL_A)).text();
  const second = await session.fetch(URL_A);
  assertEquals([second.fromCache, second.revalidated, second.status, await second.text()], [
    true,
    true,
    200,
    "body",
  ]);
  assertEquals(o.requests[1]!.headers.get("if-none-match"), '"v1"');
  await session.close();
});

Deno.test("session: cache modes follow the Fetch standard", async (t) => {
  const clock = new Clock();
  const o = origin((request, n) =>
    request.headers.get("if-none-match") === '"e"'
      ? new Response(null, { status: 304, headers: { etag: '"e"' } })
      : reply(`v${n}`, { "cache-control": "max-age=60", etag: '"e"' }, { clock })
  );
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  await t.step("only-if-cached answers a miss with 504 and no request", async () => {
    const response = await session.fetch(URL_A, { cache: "only-if-cached" });
    assertEquals([response.status, response.fromCache, o.calls], [504, false, 0]);
  });
  await (await session.fetch(URL_A)).text();
  // A miss in the default mode goes as the caller made it: nothing added (Fetch §4.6, step 8.22).
  assertEquals([o.requests.at(-1)!.headers.get("cache-control"), o.requests.at(-1)!.headers.get("pragma")], [
    null,
    null,
  ]);
  await t.step("default serves a fresh entry", async () => {
    assert((await session.fetch(URL_A, { cache: "default" })).fromCache);
  });
  await t.step("no-store bypasses read and write, and says so to the origin", async () => {
    const response = await session.fetch(URL_A, { cache: "no-store" });
    assertEquals([response.fromCache, await response.text()], [false, "v2"]);
    assertEquals(o.requests.at(-1)!.headers.get("cache-control"), "no-cache");
    assertEquals(o.requests.at(-1)!.headers.get("pragma"), "no-cache");
    assertEquals(await (await session.fetch(URL_A)).text(), "v1");
  });
  await t.step("no-cache revalidates even a fresh entry", async () => {
    const response = await session.fetch(URL_A, { cache: "no-cache" });
    assertEquals([response.fromCache, response.revalidated, await response.text()], [true, true, "v1"]);
    assertEquals(o.requests.at(-1)!.headers.get("if-none-match"), '"e"');
    // Fetch §4.6: no-cache mode adds Cache-Control: max-age=0 where the request has none.
    assertEquals(o.requests.at(-1)!.headers.get("cache-control"), "max-age=0");
  });
  await t.step("reload fetches and stores", async () => {
    const response = await session.fetch(URL_A, { cache: "reload" });
    assertEquals([response.fromCache, await response.text()], [false, "v4"]);
    assertEquals(await (await session.fetch(URL_A)).text(), "v4");
  });
  await t.step("force-cache serves even a stale entry", async () => {
    clock.tick(3600);
    const calls = o.calls;
    const response = await session.fetch(URL_A, { cache: "force-cache" });
    assertEquals([response.fromCache, response.isExpired, await response.text(), o.calls], [
      true,
      true,
      "v4",
      calls,
    ]);
  });
  await t.step("only-if-cached serves a stale entry too", async () => {
    assertEquals((await session.fetch(URL_A, { cache: "only-if-cached" })).status, 200);
  });
  await t.step("an unknown mode is a TypeError", async () => {
    // @ts-expect-error: not a cache mode
    await assertRejects(() => session.fetch(URL_A, { cache: "sometimes" }), TypeError, "RequestInit.cache");
  });
  await session.close();
});

Deno.test("session: a request with its own conditional headers passes through", async () => {
  const o = counting();
  const session = new CachedSession({ fetch: o.fetch });
  await (await session.fetch(URL_A)).text();
  const response = await session.fetch(URL_A, { headers: { "if-none-match": '"x"' } });
  assertEquals([response.fromCache, o.calls], [false, 2]);
  await session.close();
});

Deno.test("session: allowedCodes, allowedMethods and filter decide what is stored", async () => {
  const o = origin((request) => {
    const status = Number(new URL(request.url).searchParams.get("status") ?? 200);
    return reply("x", { "cache-control": "max-age=60", "x-kind": new URL(request.url).pathname }, { status });
  });
  const session = new CachedSession({
    fetch: o.fetch,
    allowedCodes: [200, 404],
    filter: (response) => response.headers.get("x-kind") !== "/private",
  });
  for (const url of ["http://h.test/?status=404", "http://h.test/?status=500", "http://h.test/private"]) {
    await (await session.fetch(url)).text();
  }
  assertEquals((await session.fetch("http://h.test/?status=404")).fromCache, true);
  assertEquals((await session.fetch("http://h.test/?status=500")).fromCache, false);
  assertEquals((await session.fetch("http://h.test/private")).fromCache, false);
  await session.close();
});

Deno.test("session: different credentials never share an entry, and no raw credential is stored", async () => {
  const users: Record<string, string> = { "Bearer alice-secret": "alice", "Bearer bob-secret": "bob" };
  const o = origin((request) =>
    reply(`for ${users[request.headers.get("authorization")!]}`, { "cache-control": "private, max-age=60" })
  );
  const storage = new MemoryStorage();
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  const as = (token: string) => session.fetch(URL_A, { headers: { authorization: `Bearer ${token}` } });
  assertEquals(await (await as("alice-secret")).text(), "for alice");
  assertEquals(await (await as("bob-secret")).text(), "for bob");
  assertEquals(await (await as("alice-secret")).text(), "for alice");
  assertEquals((await session.fetch(URL_A, { headers: { cookie: "id=1" } })).fromCache, false);
  assertEquals(o.calls, 3);
  for await (const key of storage.keys()) {
    assert(!key.includes("secret"));
    const bytes = await storage.get(key);
    assert(!new TextDecoder().decode(bytes).includes("secret"), "no request credential in a record");
  }
  await session.close();
});

Deno.test("session: ignoredParameters are left out of the key and never reach the backend", async () => {
  const o = origin(() => reply("data", { "cache-control": "max-age=60", vary: "x-api-key" }));
  const storage = new MemoryStorage();
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    ignoredParameters: ["api_key", "x-api-key"],
  });
  await (await session.fetch("http://h.test/data?b=2&api_key=SECRET1&a=1", {
    headers: { "x-api-key": "SECRET2" },
  })).text();
  // The response varies on the ignored header: its value must still match (it is kept as a digest).
  const hit = await session.fetch("http://h.test/data?a=1&b=2&api_key=OTHER", {
    headers: { "x-api-key": "SECRET2" },
  });
  assertEquals([hit.fromCache, hit.url], [true, "http://h.test/data?b=2&a=1"]);
  for await (const key of storage.keys()) {
    const text = new TextDecoder().decode(await storage.get(key));
    assert(!text.includes("SECRET"), `secret stored under ${key}`);
  }
  await session.close();
});

Deno.test("session: a body whose stream fails is never stored; the caller sees the error", async () => {
  let n = 0;
  const session = new CachedSession({
    fetch: () => {
      n++;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("partial"));
          if (n === 1) controller.error(new TypeError("connection reset"));
          else controller.close();
        },
      });
      return Promise.resolve(new Response(stream, { headers: { "cache-control": "max-age=60" } }));
    },
  });
  await assertRejects(async () => await (await session.fetch(URL_A)).text(), TypeError, "connection reset");
  const second = await session.fetch(URL_A);
  assertEquals([second.fromCache, await second.text()], [false, "partial"]);
  assert((await session.fetch(URL_A)).fromCache);
  await session.close();
});

Deno.test("session: a body larger than the backend's maxEntrySize streams through unstored", async () => {
  const big = new Uint8Array(300_000).fill(7);
  const o = origin(() => reply(big, { "cache-control": "max-age=60" }));
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new MemoryBackend({ maxEntrySize: 100_000 }),
  });
  assertEquals((await (await session.fetch(URL_A)).bytes()).length, 300_000);
  assertEquals((await session.fetch(URL_A)).fromCache, false);
  await session.close();
});

Deno.test("session: the stored body is complete even when the caller stops reading", async () => {
  const o = counting();
  const session = new CachedSession({ fetch: o.fetch });
  const response = await session.fetch(URL_A);
  await response.body!.cancel();
  const hit = await session.fetch(URL_A);
  assertEquals([hit.fromCache, await hit.text()], [true, "hello 1"]);
  await session.close();
});

Deno.test("session: a failing backend never fails the request, reports to onError, and recovers", async () => {
  const o = counting();
  const storage = new Switched(new MemoryStorage(), true);
  const errors: [unknown, string, string][] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    onError: (error, context) => errors.push([error, context.operation, context.request]),
  });
  assertEquals(await (await session.fetch(URL_A)).text(), "hello 1");
  assertEquals(await (await session.fetch(URL_A)).text(), "hello 2");
  assert(errors.length >= 2);
  assertInstanceOf(errors[0]![0], BackendError);
  assertEquals([errors[0]![1], errors[0]![2]], ["read", `GET ${URL_A}`]);
  assert(errors.some(([, operation]) => operation === "write"));
  storage.down = false;
  await (await session.fetch(URL_A)).text();
  assertEquals([(await session.fetch(URL_A)).fromCache, o.calls], [true, 3]);
  await session.close();
});

Deno.test("session: a corrupt record, or one another writer left with fields no Headers takes, is a miss, is deleted, and is reported", async () => {
  const damages: (readonly [string, (stored: CacheEntry) => Uint8Array])[] = [
    ["damaged bytes", () => new Uint8Array([1, 1, 0, 0, 0, 9, 9])],
    ...UNSERVABLE_FIELDS.map((crafted) =>
      [JSON.stringify(crafted), (stored: CacheEntry) => encodeEntry({ ...stored, ...crafted })] as const
    ),
  ];
  for (const [label, damage] of damages) {
    const o = counting();
    const storage = new MemoryStorage();
    const errors: unknown[] = [];
    const session = new CachedSession({
      fetch: o.fetch,
      backend: new CacheBackend(storage),
      onError: (e) => errors.push(e),
    });
    const first = await session.fetch(URL_A);
    await first.text();
    await session.fetch(URL_A); // wait for the write
    const stored = decodeRecord((await storage.get(first.cacheKey!))!);
    assert(stored.kind === "entry");
    await storage.set(first.cacheKey!, damage(stored.entry), Infinity);
    const response = await session.fetch(URL_A);
    assertEquals(
      [response.fromCache, await response.text(), response.statusText],
      [false, "hello 2", ""],
      label,
    );
    assert(errors[0] instanceof BackendError && errors[0].cause instanceof SyntaxError, label);
    assertEquals((await session.fetch(URL_A)).fromCache, true, `${label}: deleted, and stored again`);
    await session.close();
  }
});

Deno.test("session: a record of another version (an older library's before an upgrade, a newer one's in a rolling deploy) is a quiet miss: an older one is deleted, a newer one kept", async () => {
  for (const version of [RECORD_VERSION - 1, RECORD_VERSION + 1]) {
    const o = counting();
    const storage = new MemoryStorage();
    const backend = new CacheBackend(storage);
    const errors: unknown[] = [];
    const session = new CachedSession({ fetch: o.fetch, backend, onError: (e) => errors.push(e) });
    const first = await session.fetch(URL_A);
    await first.text();
    await session.fetch(URL_A); // wait for the write
    const key = first.cacheKey!;
    const other = encodeEntry({
      ...(decodeRecord((await storage.get(key))!) as { entry: CacheEntry }).entry,
    });
    other[0] = version; // (The checksum covers what follows the version: the record is intact.)
    assertThrows(
      () => decodeRecord(other),
      OtherVersionError as unknown as ErrorConstructor,
      `version ${version},`,
    );
    await storage.set(key, other, Infinity);
    assertEquals(await backend.read(key), undefined);
    assertEquals(await backend.count({ urls: [URL_A] }), 0);
    assertEquals(await storage.get(key) !== undefined, version > RECORD_VERSION, `version ${version} kept`);
    await storage.set(key, other, Infinity);
    const response = await session.fetch(URL_A);
    assertEquals([response.fromCache, await response.text()], [false, "hello 2"]);
    assertEquals((await session.fetch(URL_A)).fromCache, true, "stored again, over it");
    assertEquals(errors, []);
    await session.close();
  }
});

Deno.test("session: options are validated at construction with the option's name", () => {
  const cases: [unknown, ErrorConstructor, string][] = [
    [{ expireAfter: -3 }, RangeError, "expireAfter must be seconds >= 0"],
    [
      { expireAfter: "1h" },
      TypeError,
      'expireAfter must be seconds >= 0, a valid Date, NEVER_EXPIRE (-1), EXPIRE_IMMEDIATELY (0) or DO_NOT_CACHE (-2): received "1h"',
    ],
    [
      { allowedCodes: [200, 99] },
      RangeError,
      "allowedCodes must be an array of status codes from 200 to 599 but 206, 304 and 416, which are never stored: received 99",
    ],
    [
      { allowedCodes: [200, 206] },
      RangeError,
      "allowedCodes must be an array of status codes from 200 to 599 but 206",
    ],
    [
      { allowedCodes: [200, 416] },
      RangeError,
      "allowedCodes must be an array of status codes from 200 to 599 but 206, 304 and 416, which are never stored: received 416",
    ],
    [{ allowedCodes: 200 }, TypeError, "allowedCodes must be an array"],
    [{ allowedMethods: ["GET", "BAD METHOD"] }, TypeError, "allowedMethods"],
    [{ cacheControl: "yes" }, TypeError, "cacheControl must be true or false"],
    [
      { urlsExpireAfter: { "*.x.com": -9 } },
      RangeError,
      'Cannot create CachedSession: urlsExpireAfter["*.x.com"]',
    ],
    [{ staleIfError: -1 }, RangeError, "staleIfError"],
    [{ staleWhileRevalidate: -1 }, RangeError, "staleWhileRevalidate"],
    [{ staleWhileRevalidate: "60" }, TypeError, "staleWhileRevalidate"],
    [{ fetch: "fetch" }, TypeError, "fetch must be a function"],
    [{ backend: {} }, TypeError, "backend must be a CacheBackend"],
    [{ expireAfer: 60 }, TypeError, 'unknown option "expireAfer"'],
  ];
  for (const [options, type, message] of cases) {
    assertThrows(() => new CachedSession(options as never), type, message);
  }
  assertThrows(
    () => new MemoryBackend({ maxEntries: 0 }),
    RangeError,
    "Cannot create MemoryBackend: maxEntries must be a positive integer: received 0",
  );
});

Deno.test("session: a null or partial backend, a null or Map urlsExpireAfter and a list item of the wrong type throw a TypeError naming the option", () => {
  const backend =
    "Cannot create CachedSession: backend must be a CacheBackend such as new MemoryBackend(): received";
  const patterns =
    "Cannot create CachedSession: urlsExpireAfter must be a plain object of glob patterns and expirations";
  const cases: [unknown, string][] = [
    // null is not "unset": it would silently give a MemoryBackend in place of the one meant.
    [{ backend: null }, `${backend} null`],
    // A backend with `read` alone used to fail later, in the constructor, naming no option.
    [{ backend: { read() {} } }, `${backend} an object`],
    [{ backend: { storage: {}, read() {}, write() {} } }, `${backend} an object`],
    [{ urlsExpireAfter: null }, `${patterns}: received null`],
    // A Map used to be accepted and its patterns ignored.
    [{ urlsExpireAfter: new Map([["127.0.0.1/*", 60]]) }, `${patterns}: received a Map`],
    [{ urlsExpireAfter: [] }, `${patterns}: received an array`],
    [
      { allowedMethods: ["GET", 1] },
      "Cannot create CachedSession: allowedMethods must be an array of method names: received 1",
    ],
    [
      { ignoredParameters: [1] },
      "Cannot create CachedSession: ignoredParameters must be an array of strings: received 1",
    ],
  ];
  for (const [options, message] of cases) {
    assertThrows(() => new CachedSession(options as never), TypeError, message);
  }
  // Patterns in a plain object without a prototype are read like any other.
  const bare = Object.assign(Object.create(null), { "127.0.0.1/*": 60 });
  new CachedSession({ urlsExpireAfter: bare });
});

Deno.test("session: a status outside 200–599 from fetch is passed on, not turned into an error", async () => {
  const network = new Response("odd");
  Object.defineProperty(network, "status", { value: 999 });
  const session = new CachedSession({ fetch: () => Promise.resolve(network) });
  const response = await session.fetch("http://127.0.0.1/odd");
  assertEquals([response.status, response.ok, response.fromCache, await response.text()], [
    999,
    false,
    false,
    "odd",
  ]);
  await session.close();
});

Deno.test("session: a body read whole is served and stored as it is, whatever its stream or declared length", async (t) => {
  // 20,000 bytes: past the size read straight into the record; the lengths below are on both sides.
  const text = Array.from({ length: 20_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
  const chunks = () =>
    [text.slice(0, 7_000), text.slice(7_000)].map((part) => new TextEncoder().encode(part));
  const bodies: Record<string, () => BodyInit> = {
    "bytes": () => new TextEncoder().encode(text),
    "a byte stream": () =>
      new ReadableStream({
        type: "bytes",
        start(controller) {
          for (const chunk of chunks()) controller.enqueue(chunk);
          controller.close();
        },
      }),
    "a default stream": () =>
      new ReadableStream({
        start(controller) {
          for (const chunk of chunks()) controller.enqueue(chunk);
          controller.close();
        },
      }),
  };
  for (const [kind, body] of Object.entries(bodies)) {
    for (const declared of [0, 10, 17_000, 20_000, 25_000, -5, 1.5, "abc"]) {
      await t.step(`${kind}, Content-Length ${declared} for ${text.length} bytes`, async () => {
        const session = new CachedSession({
          fetch: () =>
            Promise.resolve(
              new Response(body(), {
                headers: { "cache-control": "max-age=60", "content-length": String(declared) },
              }),
            ),
        });
        const miss = await session.fetch(URL_A);
        assertEquals([miss.fromCache, await miss.text()], [false, text]);
        const hit = await session.fetch(URL_A);
        assertEquals([hit.fromCache, await hit.text()], [true, text]);
        await session.close();
      });
    }
  }
});

Deno.test("session: a filter that throws reaches onError; the response reaches the caller unstored", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const errors: [string, string][] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    filter: () => {
      throw new Error("filter broke");
    },
    onError: (error, context) => errors.push([String(error), context.operation]),
  });
  const first = await session.fetch(URL_A);
  assertEquals([first.status, first.fromCache, await first.text()], [200, false, "body 1"]);
  const second = await session.fetch(URL_A);
  assertEquals([second.fromCache, await second.text()], [false, "body 2"]);
  assertEquals(errors, [["Error: filter broke", "write"], ["Error: filter broke", "write"]]);
  await session.close();
});

Deno.test("session: an expireAfter beyond the last Date never expires: expiresAt is undefined, never an Invalid Date", async () => {
  const clock = new Clock();
  for (const expireAfter of [1e13, 1e300]) {
    const o = origin(() => reply("x"));
    const session = new CachedSession({ fetch: o.fetch, now: clock.fn, expireAfter });
    await (await session.fetch(URL_A)).text();
    const hit = await session.fetch(URL_A);
    await hit.text();
    assert(hit.fromCache);
    assertEquals([hit.expiresAt, hit.isExpired], [undefined, false], `expireAfter ${expireAfter}`);
    const listed = [];
    for await (const response of session.cache.responses()) listed.push(response.expiresAt);
    assertEquals(listed, [undefined]);
    await session.close();
  }
});

/** Fetches each URL twice: the second is not from the cache (its pattern refuses it). */
async function assertNeverStored(session: CachedSession, urls: string[]): Promise<void> {
  for (const url of urls) {
    await (await session.fetch(url)).text();
    const again = await session.fetch(url);
    await again.text();
    assertEquals(again.fromCache, false, url);
  }
}

Deno.test("session: a URL pattern of Unicode characters matches the URL it names (as DO_NOT_CACHE, a refusal)", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const session = new CachedSession({
    fetch: o.fetch,
    urlsExpireAfter: { "127.0.0.1/café/*": DO_NOT_CACHE, "bücher.example/*": DO_NOT_CACHE },
  });
  await assertNeverStored(session, ["http://127.0.0.1/café/menu", "http://bücher.example/list"]);
  assertEquals(o.calls, 4);
  await session.close();
});

Deno.test("session: a URL pattern with characters that URLs percent-encode (\"<>`{}') matches the URL it names", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const session = new CachedSession({
    fetch: o.fetch,
    urlsExpireAfter: { "127.0.0.1/{id}/*": DO_NOT_CACHE, "127.0.0.1/q?s=<'a'>": DO_NOT_CACHE },
  });
  // The URLs hold them as %7B, %7D, %3C, %27 and %3E; the second also written so by the caller.
  await assertNeverStored(session, [
    "http://127.0.0.1/{id}/x",
    "http://127.0.0.1/%7Bid%7D/y",
    "http://127.0.0.1/q?s=<'a'>",
  ]);
  assertEquals(o.calls, 6);
  await session.close();
});

Deno.test("session: a URL pattern that can never match is refused at construction, naming it", () => {
  assertThrows(
    () => new CachedSession({ urlsExpireAfter: { "*.bücher.example/*": 60 } }),
    TypeError,
    'urlsExpireAfter["*.bücher.example/*"] can never match',
  );
});

Deno.test("session: an async filter is an error reported to onError, not a yes (its promise is truthy)", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const operations: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    filter: (() => Promise.resolve(false)) as never,
    onError: (_error, context) => operations.push(context.operation),
  });
  await (await session.fetch(URL_A)).text();
  const again = await session.fetch(URL_A);
  assertEquals([again.fromCache, await again.text(), operations], [false, "body 2", ["write", "write"]]);
  await session.close();
});

Deno.test("session: a Date given as expireAfter and changed afterwards changes nothing", async () => {
  const clock = new Clock();
  const expires = new Date(clock.now + 60_000);
  const o = origin((_request, n) => reply(`body ${n}`));
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    expireAfter: expires,
    onError: (e) => errors.push(e),
  });
  expires.setTime(NaN);
  await (await session.fetch(URL_A)).text();
  const hit = await session.fetch(URL_A);
  assertEquals([hit.fromCache, hit.expiresAt?.getTime(), await hit.text(), errors], [
    true,
    clock.now + 60_000,
    "body 1",
    [],
  ]);
  await session.close();
});

Deno.test("session: filter sees the response's url, so a filter by URL keeps those URLs out", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const seen: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    filter: (response) => {
      seen.push(response.url);
      return !response.url.includes("/private/");
    },
  });
  const url = "http://127.0.0.1/private/me#top";
  await (await session.fetch(url)).text();
  const again = await session.fetch(url);
  assertEquals([again.fromCache, await again.text(), seen], [false, "body 2", [
    "http://127.0.0.1/private/me",
    "http://127.0.0.1/private/me",
  ]]);
  await session.close();
});

Deno.test("ignoredParameters: a hit's url is the request's, with the parameters it carried", async () => {
  const o = origin(() => reply("object", { "cache-control": "max-age=60" }));
  const backend = new MemoryBackend();
  const session = new CachedSession({
    backend,
    fetch: o.fetch,
    ignoredParameters: ["X-Amz-Signature", "X-Amz-Date"],
  });
  const signed = (date: string) =>
    `https://bucket.s3.amazonaws.com/a.bin?X-Amz-Date=${date}&X-Amz-Expires=300&X-Amz-Signature=sig${date}`;
  const miss = await session.fetch(signed("1"));
  await miss.text();
  const hit = await session.fetch(`${signed("2")}#part`);
  await hit.text();
  assertEquals([miss.url, hit.fromCache, hit.url], [signed("1"), true, signed("2")]);
  // What is stored keeps no secret.
  const [stored] = await Array.fromAsync(backend.responses());
  assertEquals(stored!.url, "https://bucket.s3.amazonaws.com/a.bin?X-Amz-Expires=300");
  await session.close();
});

Deno.test("ignoredParameters: a hit's url is the request's also after an empty fragment", async () => {
  const o = origin(() => reply("object", { "cache-control": "max-age=60" }));
  const session = new CachedSession({ fetch: o.fetch, ignoredParameters: ["sig"] });
  await (await session.fetch("http://127.0.0.1/a?id=1&sig=1")).text();
  const withFragment = await session.fetch("http://127.0.0.1/a?id=1&sig=2#part");
  await withFragment.text();
  const emptyFragment = await session.fetch("http://127.0.0.1/a?id=1&sig=3#");
  await emptyFragment.text();
  assertEquals(
    [withFragment.fromCache, withFragment.url, emptyFragment.fromCache, emptyFragment.url],
    [true, "http://127.0.0.1/a?id=1&sig=2", true, "http://127.0.0.1/a?id=1&sig=3"],
  );
  await session.close();
});
