/**
 * Freshness and age (RFC 9111 §4.2): edge cases of lifetimes, ages and directives that the
 * section-by-section tests leave out.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { refreshing, scripted } from "./_scripted.ts";
import { parseCacheControl } from "../src/cache_control.ts";

// RFC 9111 §5.2.2.4: a qualified no-cache ("…the specified field(s) MUST NOT be sent … without
// successful revalidation … while still allowing caching of the rest of the response") forbids
// reusing the named fields alone, which are not stored. It does not make the rest unusable stale:
// the response's own stale-while-revalidate still serves it while it is refreshed.
Deno.test("a qualified no-cache does not forbid stale-while-revalidate", async () => {
  const s = refreshing((clock) => (_request, n) =>
    reply(`v${n}`, {
      "cache-control": 'max-age=10, stale-while-revalidate=60, no-cache="x-token"',
      "x-token": "secret",
    }, { clock })
  );
  assertEquals(await s.served(), "v1:false");
  s.clock.tick(20);
  assertEquals(await s.served(), "v1:true", "stale within its window: served while refreshed");
  assertEquals(s.origin.calls, 2, "the refresh went to the origin");
  await s.session.close();
});

// The same for a request's max-stale (§5.2.1.2): only must-revalidate, an unqualified no-cache
// and, in a shared cache, proxy-revalidate and s-maxage refuse it.
Deno.test("a qualified no-cache does not refuse a request's max-stale", async () => {
  const s = scripted((clock) => (_request, n) =>
    reply(`v${n}`, { "cache-control": 'max-age=10, no-cache="x-token"', "x-token": "secret" }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const { response, body } = await s.get({ headers: { "cache-control": "max-stale=100" } });
  assertEquals([body, response.fromCache, response.headers.get("x-token")], ["v1", true, null]);
  await s.session.close();
});

// And for stale-if-error (RFC 5861 §4): the response's window serves it on a 500.
Deno.test("a qualified no-cache does not forbid stale-if-error", async () => {
  const s = scripted((clock) => (_request, n) =>
    n === 1
      ? reply("v1", { "cache-control": 'max-age=10, stale-if-error=600, no-cache="x-token"' }, { clock })
      : reply("down", {}, { status: 500, clock })
  );
  await s.get();
  s.clock.tick(20);
  const { response, body } = await s.get();
  assertEquals([response.status, body, response.fromCache], [200, "v1", true]);
  await s.session.close();
});

// An unqualified no-cache still forbids all of them (the contrast to the three tests above).
Deno.test("an unqualified no-cache still refuses max-stale", async () => {
  const s = scripted((clock) => (_request, n) =>
    reply(`v${n}`, { "cache-control": "max-age=10, no-cache", etag: `"${n}"` }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const { response } = await s.get({ headers: { "cache-control": "max-stale=100" } });
  assertEquals(response.fromCache && !response.revalidated, false);
  await s.session.close();
});

// RFC 9111 §4.2.3: response_time is "the value of the clock at the time of the response was
// received", request_time when the request that got it was sent. A 304 that selects no stored
// response makes the cache ask again without validators (§4.3.4); the response stored is that
// second one, so its times are those of the second exchange, not of the 304. Here the 304 takes
// 30 s to come (the clock moves while the origin answers) and the second response none: it is
// dated when it arrives, with max-age=60, so it is 0 s old, fresh 60 s more, served with `Age: 0`.
// (Before: the 30 s of the 304's exchange counted as the second response's delay, so it was
// served 30 s old at once, and stale 30 s early.)
Deno.test("the response to the request sent again after an unusable 304 is aged from its own arrival", async () => {
  const s = scripted((clock) => (_request, n) => {
    if (n === 1) return reply("v1", { "cache-control": "max-age=10", etag: '"a"' }, { clock });
    if (n === 2) {
      clock.tick(30);
      return reply(null, { etag: '"other"' }, { status: 304, clock });
    }
    return reply("v3", { "cache-control": "max-age=60", etag: '"b"' }, { clock });
  });
  await s.get();
  s.clock.tick(20);
  const third = await s.get();
  assertEquals([third.body, s.origin.calls], ["v3", 3]);
  const hit = await s.get();
  assertEquals([hit.body, hit.response.fromCache, hit.response.headers.get("age")], ["v3", true, "0"]);
  s.clock.tick(50);
  const later = await s.get();
  assertEquals([later.body, later.response.fromCache], ["v3", true], "fresh 60 s from its arrival");
  await s.session.close();
});

// RFC 5861 §4 and RFC 9111 §4.3.4: when the request the cache sends again after an unusable 304
// fails, stale-if-error serves the stored response as it would have after the first. (Before: the
// second exchange's 500 or network error went to the caller, though the stored response allowed
// an hour of it.)
Deno.test("stale-if-error covers the request sent again after an unusable 304", async () => {
  for (const second of ["500", "throw"]) {
    const s = scripted((clock) => (_request, n) => {
      if (n === 1) {
        return reply("v1", { "cache-control": "max-age=10, stale-if-error=3600", etag: '"a"' }, { clock });
      }
      if (n === 2) return reply(null, { etag: '"other"' }, { status: 304, clock });
      if (second === "throw") throw new TypeError("connection reset");
      return reply("down", {}, { status: 500, clock });
    });
    await s.get();
    s.clock.tick(20);
    const { response, body } = await s.get();
    assertEquals([response.status, body, response.fromCache, s.origin.calls], [200, "v1", true, 3], second);
    await s.session.close();
  }
});

// §4.3.4 and §4.2.3: a 304's Age and Date replace the stored ones, and the age then counts from
// the 304's arrival.
Deno.test("a 304's Age is the freshened response's age, and counts on from the 304", async () => {
  const s = scripted((clock) => (_request, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=100", etag: '"a"', age: "90" }, { clock })
      : reply(null, { "cache-control": "max-age=100", etag: '"a"', age: "40" }, { status: 304, clock })
  );
  await s.get();
  s.clock.tick(15);
  const revalidated = await s.get();
  assertEquals([revalidated.response.revalidated, revalidated.response.headers.get("age")], [true, "40"]);
  s.clock.tick(59);
  const hit = await s.get();
  assertEquals([hit.response.fromCache, hit.response.headers.get("age")], [true, "99"]);
  s.clock.tick(2);
  assertEquals((await s.get()).response.revalidated, true, "100 s old: stale, revalidated again");
  await s.session.close();
});

// §5.3: an invalid Expires is "already expired", which is explicit freshness: no heuristic
// lifetime from Last-Modified then (§4.2.2 "MUST NOT use heuristics … when an explicit expiration
// time is present").
Deno.test("an invalid Expires leaves no room for heuristic freshness", async () => {
  const s = scripted((clock) => (_request, n) =>
    reply(`v${n}`, {
      expires: "0",
      "last-modified": new Date(clock.now - 100 * 86_400_000).toUTCString(),
    }, { clock })
  );
  await s.get();
  s.clock.tick(1);
  const { response } = await s.get();
  assertEquals(response.fromCache && !response.revalidated, false);
  await s.session.close();
});

// §4.2.1: "If a response includes a Cache-Control header field with the max-age directive, a
// recipient MUST ignore the Expires header field" — also a malformed one, and also when max-age
// is quoted (§5.2: recipients accept either form) or written in capitals (names are
// case-insensitive).
Deno.test("max-age in any accepted spelling makes Expires ignored", async () => {
  for (const directive of ['max-age="60"', "MAX-AGE=60", "Max-Age=60"]) {
    const s = scripted((clock) => (_request, n) =>
      reply(`v${n}`, { "cache-control": directive, expires: "Thu, 01 Jan 1970 00:00:00 GMT" }, { clock })
    );
    await s.get();
    s.clock.tick(30);
    assertEquals((await s.get()).response.fromCache, true, directive);
    await s.session.close();
  }
});

// Parsing corner cases of delta-seconds (§1.2.2, §4.2.1): invalid values are stale, never fresh.
Deno.test("delta-seconds: fractions, signs, spaces and duplicates are 0; huge values are capped", () => {
  const invalid = [
    "max-age=1.5",
    "max-age=-5",
    "max-age= 5",
    "max-age =5",
    "max-age=5, max-age=5",
    "max-age=5s",
  ];
  for (const value of invalid) {
    assertEquals(parseCacheControl(value).maxAge, 0, value);
  }
  assertEquals(parseCacheControl("max-age=99999999999999999999").maxAge, 2147483648);
  assertEquals(parseCacheControl("max-stale").maxStale, Infinity);
  // A repeated max-stale: the most restrictive occurrence counts (see cleanups_hunt_test.ts).
  assertEquals(parseCacheControl("max-stale=5, max-stale").maxStale, 5);
});
