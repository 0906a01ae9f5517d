/**
 * What to store for a response (`src/store_plan.ts`) and which entries an inspection or bulk
 * delete acts on (`src/response_filter.ts`): behaviour that mutation testing of the two found no
 * test for. Each test names the mutant it kills, by its line at 062c399, before the fix to
 * `hasIgnored` that the last test asks for.
 * Against a scripted origin and an injected clock, as `http_semantics_test.ts`.
 */
import { assert, assertEquals } from "./_assert.ts";
import { CacheBackend, CachedSession } from "../mod.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { Clock, httpDate, origin, reached, reply } from "./_origin.ts";
import { DeleteAts, keptFor, scripted as setup, URL_A } from "./_scripted.ts";

// An entry is created when its response arrives, not when the request went out. Kills
// store_plan.ts:122 (`createdAt: requestTime`).
Deno.test("an entry's createdAt is when its response arrived, not when the request was sent", async () => {
  const s = setup((clock) => (_r, n) => {
    clock.tick(30);
    return reply(`v${n}`, { "cache-control": "max-age=600" }, { clock });
  });
  const arrival = s.clock.now + 30_000;
  const miss = await s.get();
  assertEquals(miss.response.createdAt?.getTime(), arrival);
  const hit = await s.get();
  assertEquals([hit.response.fromCache, hit.response.createdAt?.getTime()], [true, arrival]);
  await s.session.close();
});

// A HEAD that fetch reached through redirects is not stored: filed under the HEAD's own key, with
// the redirect's alias under the GET's, no request would ever be answered from it. Kills
// store_plan.ts:95 (the `response.redirected` condition dropped).
Deno.test("a HEAD response reached through redirects is not stored", async () => {
  const s = setup(
    (clock) => (_r, n) =>
      reached(reply(null, { "cache-control": "max-age=600", "x-n": `${n}` }, { clock }), "/moved"),
    { allowedMethods: ["GET", "HEAD"] },
  );
  const head = await s.get({ method: "HEAD" });
  assertEquals([head.response.redirected, head.response.createdAt], [true, undefined]);
  assertEquals(await s.session.cache.count(), 0);
  await s.session.close();
});

// With `cacheControl: false` the response's directives are not read, `no-cache="field"` neither:
// the field is stored and served like any other. Kills store_plan.ts:101 (directives parsed
// whatever `cacheControl` says).
Deno.test("cacheControl off: a field that no-cache names is stored and served all the same", async () => {
  const s = setup(
    (clock) => (_r, n) =>
      reply(`v${n}`, { "cache-control": 'no-cache="x-note"', "x-note": "kept" }, { clock }),
    {
      cacheControl: false,
      expireAfter: 600,
    },
  );
  await s.get();
  const hit = await s.get();
  assertEquals([hit.body, hit.response.fromCache, hit.response.headers.get("x-note")], ["v1", true, "kept"]);
  await s.session.close();
});

// RFC 9111 §4.2.3: a no-cache response that arrived with an Age is stale by that much at once, as
// one with a lifetime is by its Age. Kills store_plan.ts:204 (no-cache expiring at
// arrival, its Age left out).
Deno.test("no-cache: a response that arrived with an Age expired that long before it arrived", async () => {
  const s = setup((clock) => (_r, n) =>
    reply(`v${n}`, { "cache-control": "no-cache", age: "100", etag: '"a"' }, { clock })
  );
  const arrival = s.clock.now;
  const miss = await s.get();
  assertEquals(miss.response.expiresAt?.getTime(), arrival - 100_000);
  await s.session.close();
});

/** A session whose cache holds /a, stored at `t0`, and /b, stored 100 s later; it is now `t0 + 150 s`. */
async function twoEntries(): Promise<{ session: CachedSession; t0: number }> {
  const clock = new Clock();
  const o = origin((request) => reply(request.url, { "cache-control": "max-age=3600" }, { clock }));
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  const t0 = clock.now;
  await (await session.fetch("http://127.0.0.1/a")).text();
  clock.tick(100);
  await (await session.fetch("http://127.0.0.1/b")).text();
  clock.tick(50);
  return { session, t0 };
}

// `olderThan` in seconds selects the entries created at least that long ago, by the session's
// clock: one exactly that old is selected, and 0 selects every entry. Kills response_filter.ts:129
// (`>=`, and the comparison flipped), :117 (seconds read as milliseconds) and :116 (`olderThan > 0`
// required).
Deno.test("olderThan in seconds selects the entries created at least that long ago", async () => {
  const { session } = await twoEntries();
  const older = async (seconds: number) =>
    (await session.cache.urls({ olderThan: seconds })).sort().join(" ");
  assertEquals(await older(151), "");
  assertEquals(await older(150), "http://127.0.0.1/a");
  assertEquals(await older(51), "http://127.0.0.1/a");
  assertEquals(await older(50), "http://127.0.0.1/a http://127.0.0.1/b");
  // Zero selects every entry.
  assertEquals(await session.cache.count({ olderThan: 0 }), 2);
  assertEquals(await session.cache.delete({ olderThan: 120 }), 1);
  assertEquals(await session.cache.urls(), ["http://127.0.0.1/b"]);
  await session.close();
});

// `olderThan` as a Date selects the entries created no later than it. Kills response_filter.ts:114 (the
// Date's time replaced by the present).
Deno.test("olderThan as a Date selects the entries created no later than it", async () => {
  const { session, t0 } = await twoEntries();
  assertEquals(await session.cache.urls({ olderThan: new Date(t0 + 50_000) }), ["http://127.0.0.1/a"]);
  assertEquals(await session.cache.count({ olderThan: new Date(t0 - 1000) }), 0);
  await session.close();
});

// `olderThan` must be a number of seconds >= 0: NaN is refused as -1 is. Kills
// response_filter.ts:116 (`olderThan < 0`, which lets NaN through).
Deno.test("olderThan NaN is refused with a RangeError, as a negative number is", async () => {
  const { session } = await twoEntries();
  let refused: unknown;
  await session.cache.count({ olderThan: NaN }).catch((error) => refused = error);
  assert(refused instanceof RangeError, String(refused));
  assert(
    /olderThan must be seconds >= 0 or a valid Date: received NaN$/.test(refused.message),
    refused.message,
  );
  await session.close();
});

// An entry is expired from the moment its expiry is reached (`expiresAt <= now`), as a served
// response's `isExpired` says. Kills response_filter.ts:127 (`<`).
Deno.test("expired and valid: an entry whose expiry is now is expired", async () => {
  const clock = new Clock();
  const o = origin(() => reply("x", { "cache-control": "max-age=60" }, { clock }));
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  await (await session.fetch("http://127.0.0.1/a")).text();
  clock.tick(59);
  assertEquals([await session.cache.count({ expired: true }), await session.cache.count({ valid: true })], [
    0,
    1,
  ]);
  clock.tick(1);
  assertEquals([await session.cache.count({ expired: true }), await session.cache.count({ valid: true })], [
    1,
    0,
  ]);
  await session.close();
});

// RFC 9111 §4.2.3: a heuristic lifetime, like an explicit one, counts from the response's corrected
// initial age: one that arrived 50 s old has 50 s less to go. Kills store_plan.ts:212 (the
// heuristic lifetime counted from arrival).
Deno.test("heuristic freshness: the Age a response arrived with counts against its lifetime", async () => {
  const s = setup((clock) => (_r, n) =>
    reply(`v${n}`, { "last-modified": httpDate(clock.now, -1000), age: "50" }, { clock })
  );
  const arrival = s.clock.now;
  const miss = await s.get();
  // 10% of the 1000 s since Last-Modified, 50 s of it used up on arrival.
  assertEquals(miss.response.expiresAt?.getTime(), arrival + 50_000);
  s.clock.tick(49);
  assertEquals((await s.get()).response.fromCache, true);
  s.clock.tick(1);
  assertEquals((await s.get()).response.fromCache, false);
  await s.session.close();
});

// A response without a lifetime (here a Last-Modified no earlier than its Date gives no heuristic
// one) is stored when it can be revalidated: Last-Modified is a validator as an ETag is. Kills
// store_plan.ts:213 (Last-Modified left out of what makes an entry usable later).
Deno.test("a response with only Last-Modified and no lifetime is stored, and revalidated with If-Modified-Since", async () => {
  const s = setup((clock) => (request, n) =>
    request.headers.has("if-modified-since")
      ? reply(null, {}, { status: 304, clock })
      : reply(`v${n}`, { "last-modified": httpDate(clock.now) }, { clock })
  );
  const modified = httpDate(s.clock.now);
  await s.get();
  s.clock.tick(10);
  const second = await s.get();
  assertEquals(s.origin.requests[1]!.headers.get("if-modified-since"), modified);
  assertEquals([second.body, second.response.revalidated], ["v1", true]);
  await s.session.close();
});

// `urls` takes strings and URL objects only: an object that merely turns into an absolute URL
// string is refused, as the type says. Kills response_filter.ts:88 (the type check dropped, which
// leaves it to `new URL`).
Deno.test("a filter's urls refuse an object that is neither a string nor a URL", async () => {
  const backend = new CacheBackend(new MemoryStorage());
  const lookalike = { toString: () => "https://example.com/x" };
  let refused: unknown;
  await backend.count({ urls: [lookalike as never] }).catch((error) => refused = error);
  assert(refused instanceof TypeError, String(refused));
  assert(/Cannot count: urls must be an array of absolute URLs/.test(refused.message), refused.message);
});

// An event stream is never stored, whatever freshness it is given, and is known by its media type
// whatever parameters follow it. Kills store_plan.ts:100 (the event-stream check dropped) and
// store_plan.ts:282 (the whole Content-Type compared, parameters and case included).
Deno.test("an event stream is not stored, whatever parameters its media type has", async () => {
  for (const type of ["text/event-stream", "Text/Event-Stream; charset=utf-8"]) {
    const s = setup((clock) => (_r, n) =>
      reply(`data: ${n}\n\n`, { "content-type": type, "cache-control": "max-age=600" }, { clock })
    );
    await s.get();
    const second = await s.get();
    assertEquals([second.body, second.response.fromCache, s.origin.calls], ["data: 2\n\n", false, 2], type);
    await s.session.close();
  }
});

// With `cacheControl: false` the stored response's directives give no stale window, also when a
// 304 freshens the entry and its keeping is worked out anew from the stored fields. Kills
// store_plan.ts:235 (the stored Cache-Control read whatever `cacheControl` says).
Deno.test("cacheControl off: a freshened entry is kept by the session's windows, not the response's stale-if-error", async () => {
  const clock = new Clock();
  const o = origin((request) =>
    request.headers.has("if-none-match")
      ? reply(null, { etag: '"a"' }, { status: 304, clock })
      : reply("x", { etag: '"a"', "cache-control": "stale-if-error=200000" }, { clock })
  );
  const storage = new DeleteAts();
  const session = new CachedSession({
    fetch: o.fetch,
    now: clock.fn,
    backend: new CacheBackend(storage),
    cacheControl: false,
    expireAfter: 10,
  });
  await (await session.fetch(URL_A)).text();
  assertEquals((storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000, 10 + 86_400);
  clock.tick(20);
  const revalidated = await session.fetch(URL_A);
  await revalidated.text();
  assertEquals([revalidated.revalidated, o.calls], [true, 2]);
  assertEquals((storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000, 10 + 86_400);
  await session.close();
});

// RFC 9111 §5.2.2.8, §5.2.2.10: proxy-revalidate and s-maxage forbid a shared cache to serve the
// response stale, so its stale windows keep nothing there; a private cache keeps them. Kills
// store_plan.ts:240 (`forbidsStale` asked for a private cache whatever `shared` says).
Deno.test("a shared cache keeps no stale window for a response with proxy-revalidate or s-maxage", async () => {
  for (const directive of ["proxy-revalidate", "s-maxage=10"]) {
    const headers = { "cache-control": `max-age=10, ${directive}, stale-if-error=600` };
    assertEquals(await keptFor(headers, { shared: true }), 10, directive);
    assertEquals(await keptFor(headers), 610, directive);
  }
});

// An entry that can be revalidated is kept a day after it expires, or after it arrived when it was
// stale on arrival (a large Age), and longer when a stale window runs longer. Kills
// store_plan.ts:248 (the day counted from expiry alone, and the stale window left out).
Deno.test("an entry with a validator is kept a day from arrival when stale on arrival, and longer for a longer stale window", async () => {
  assertEquals(await keptFor({ "cache-control": "max-age=10", age: "100", etag: '"a"' }), 86_400);
  assertEquals(
    await keptFor({ "cache-control": "max-age=10, stale-if-error=200000", etag: '"a"' }),
    10 + 200_000,
  );
});

// `filter` sees what fetch gave: the status text, and for a response reached through redirects
// its final `url` and `redirected`. Kills store_plan.ts:321 (the view's status text left empty),
// :323 (the view's `redirected` left false) and :332 (the requested URL given for a redirected
// response's).
Deno.test("filter sees the status text, and a redirected response's final url and redirected", async () => {
  const seen: string[] = [];
  const s = setup((clock) => (request, n) => {
    const response = new Response(`v${n}`, {
      statusText: "Fine Thanks",
      headers: { "cache-control": "max-age=600", date: httpDate(clock.now) },
    });
    return new URL(request.url).pathname === "/old" ? reached(response, "/new") : response;
  }, {
    filter: (response) => {
      seen.push(`${response.url} ${response.redirected} ${response.statusText}`);
      return !response.redirected;
    },
  });
  await s.get(undefined, "http://127.0.0.1/plain");
  await s.get(undefined, "http://127.0.0.1/old");
  assertEquals(seen, [
    "http://127.0.0.1/plain false Fine Thanks",
    "http://127.0.0.1/new true Fine Thanks",
  ]);
  // What the filter refused is not stored; what it allowed is.
  assertEquals(await s.session.cache.urls(), ["http://127.0.0.1/plain"]);
  await s.session.close();
});

// `filter` says yes with a truthy value only: one that returns nothing (a forgotten `return`) lets
// nothing be stored. Kills store_plan.ts:309 (anything but `false` taken as a yes).
Deno.test("a filter that returns nothing stores nothing", async () => {
  const s = setup((clock) => (_r, n) => reply(`v${n}`, { "cache-control": "max-age=600" }, { clock }), {
    filter: (() => undefined) as never,
  });
  await s.get();
  const second = await s.get();
  assertEquals([second.body, second.response.fromCache, s.origin.calls], ["v2", false, 2]);
  await s.session.close();
});

// A response whose Link targets name none of the ignored parameters is stored as any other; every
// target is looked at, the first and the later ones. Kills store_plan.ts:255 (the targets'
// pattern without its `g` flag, which `matchAll` refuses).
Deno.test("ignoredParameters: a response with Link targets that name none of them is stored", async () => {
  const errors: unknown[] = [];
  const s = setup((clock) => (_r, n) =>
    reply(`v${n}`, {
      "cache-control": "max-age=600",
      link: '</items?page=2>; rel="next", </items?page=9>; rel="last"',
    }, { clock }), { ignoredParameters: ["token"], onError: (error) => errors.push(error) });
  await s.get(undefined, "http://127.0.0.1/items?token=s3cret");
  const hit = await s.get(undefined, "http://127.0.0.1/items?token=other");
  assertEquals([hit.body, hit.response.fromCache, errors], ["v1", true, []]);
  await s.session.close();
});

// A bug (fixed in store_plan.ts `hasIgnored`): a Content-Location that the URL parser refuses
// (here a port above 65535) but whose query names an ignored parameter carries that secret all
// the same; stored, it was served to requests with other values. One whose query names none is
// stored. Kills store_plan.ts:276 (a value that does not parse taken as naming an ignored one).
Deno.test("ignoredParameters: a Content-Location that does not parse is judged by its query as it stands", async () => {
  const echoing = (token: string | null) => `http://127.0.0.1:99999/items?page=1&token=${token}`;
  const s = setup((clock) => (request, n) =>
    reply(`v${n}`, {
      "cache-control": "max-age=600",
      "content-location": echoing(new URL(request.url).searchParams.get("token")),
    }, { clock }), { ignoredParameters: ["token"] });
  await s.get(undefined, "http://127.0.0.1/items?token=SECRET");
  const next = await s.get(undefined, "http://127.0.0.1/items?token=other");
  assertEquals([next.body, next.response.fromCache], ["v2", false]);
  assertEquals(next.response.headers.get("content-location"), echoing("other"));
  await s.session.close();
  // One that names no ignored parameter is stored.
  const plain = setup(
    (clock) => (_r, n) =>
      reply(`v${n}`, { "cache-control": "max-age=600", "content-location": "http://exa mple/items?page=1" }, {
        clock,
      }),
    { ignoredParameters: ["token"] },
  );
  await plain.get(undefined, "http://127.0.0.1/items?token=SECRET");
  const hit = await plain.get(undefined, "http://127.0.0.1/items?token=other");
  assertEquals([hit.body, hit.response.fromCache], ["v1", true]);
  await plain.session.close();
});
