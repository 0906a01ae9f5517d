/**
 * Ranges cut from stored responses where other features meet them (a second pass over partial
 * content): a stale entry revalidated by a Range request, stale-if-error, Vary variants, and the
 * bytes of a range on every backend (Deno KV splits records into 64 KiB chunks).
 *
 * No bug was found by this pass; these tests pin interactions that no other test reached.
 *
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { BACKENDS, dispose, patterned } from "./_fixtures.ts";
import { reply } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/** Status, the fields a partial answer depends on, and the body. */
async function answer(response: Response): Promise<(string | number | null)[]> {
  const h = response.headers;
  return [
    response.status,
    h.get("content-range"),
    h.get("content-length"),
    h.get("age"),
    h.get("etag"),
    h.get("cache-status"),
    await response.text(),
  ];
}

Deno.test("RFC 9111 §4.3.4 with RFC 9110 §14.2: a stale entry asked for by a Range request is revalidated with the Range, and the 304 gets a range cut from the freshened entry", async () => {
  const s = scripted(
    (clock) => (request, n) =>
      n > 1 && request.headers.get("if-none-match") === '"v1"'
        ? reply(null, { "cache-control": "max-age=60", etag: '"v1"' }, { status: 304, clock })
        : reply("0123456789", { "cache-control": "max-age=10", etag: '"v1"' }, { clock }),
    { cacheStatus: true },
  );
  await s.get();
  s.clock.tick(20);
  const part = await s.session.fetch(URL_A, { headers: { range: "bytes=2-4" } });
  assertEquals([part.fromCache, part.revalidated], [true, true]);
  assertEquals(await answer(part), [
    206,
    "bytes 2-4/10",
    "3",
    "0",
    '"v1"',
    "http-cache; fwd=stale; fwd-status=304; stored; ttl=60",
    "234",
  ]);
  const sent = s.origin.requests[1]!;
  assertEquals([sent.headers.get("range"), sent.headers.get("if-none-match")], ["bytes=2-4", '"v1"']);
  // Freshened by that 304: the next ranges are hits, a 416 too.
  s.clock.tick(5);
  assertEquals(await answer(await s.session.fetch(URL_A, { headers: { range: "bytes=-2" } })), [
    206,
    "bytes 8-9/10",
    "2",
    "5",
    '"v1"',
    "http-cache; hit; ttl=55",
    "89",
  ]);
  assertEquals(await answer(await s.session.fetch(URL_A, { headers: { range: "bytes=10-" } })), [
    416,
    "bytes */10",
    null,
    "5",
    '"v1"',
    "http-cache; hit; ttl=55",
    "",
  ]);
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

Deno.test("RFC 5861 §4 with RFC 9110 §14.2: stale-if-error answers a Range request with a range (or a 416) of the stale entry", async () => {
  const s = scripted(
    (clock) => (_request, n) =>
      n === 1
        ? reply("0123456789", { "cache-control": "max-age=10, stale-if-error=60", etag: '"v1"' }, { clock })
        : reply("down", {}, { status: 503, clock }),
    { cacheStatus: true },
  );
  await s.get();
  s.clock.tick(20);
  const part = await s.session.fetch(URL_A, { headers: { range: "bytes=2-4" } });
  assertEquals(await answer(part), [
    206,
    "bytes 2-4/10",
    "3",
    "20",
    '"v1"',
    "http-cache; fwd=stale; fwd-status=503; ttl=-10",
    "234",
  ]);
  const none = await s.session.fetch(URL_A, { headers: { range: "bytes=20-" } });
  assertEquals([none.status, none.headers.get("content-range"), none.fromCache], [416, "bytes */10", true]);
  await none.body?.cancel();
  assertEquals(s.origin.calls, 3);
  await s.session.close();
});

Deno.test("RFC 9111 §4.1 with RFC 9110 §14.2: each Vary variant answers, and is revalidated by, a Range request of its own", async () => {
  const s = scripted((clock) => (request) => {
    const lang = request.headers.get("accept-language") ?? "none";
    const headers = { etag: `"${lang}"`, vary: "accept-language" };
    if (request.headers.get("if-none-match") === `"${lang}"`) {
      return reply(null, { ...headers, "cache-control": "max-age=60" }, { status: 304, clock });
    }
    if (request.headers.has("range")) {
      return reply("PART", { ...headers, "content-range": "bytes 0-3/10" }, { status: 206, clock });
    }
    return reply(lang === "fr" ? "FR45678901" : "EN45678901", { ...headers, "cache-control": "max-age=10" }, {
      clock,
    });
  });
  const ranged = async (lang: string, range: string) => {
    const r = await s.session.fetch(URL_A, { headers: { range, "accept-language": lang } });
    return [lang, r.status, r.fromCache, r.headers.get("etag"), await r.text()];
  };
  await s.get({ headers: { "accept-language": "en" } });
  await s.get({ headers: { "accept-language": "fr" } });
  assertEquals(await ranged("en", "bytes=0-3"), ["en", 206, true, '"en"', "EN45"]);
  assertEquals(await ranged("fr", "bytes=0-3"), ["fr", 206, true, '"fr"', "FR45"]);
  // A variant not stored: the origin's 206 passes through, and is not stored.
  assertEquals(await ranged("de", "bytes=0-3"), ["de", 206, false, '"de"', "PART"]);
  s.clock.tick(20);
  assertEquals(await ranged("fr", "bytes=1-3"), ["fr", 206, true, '"fr"', "R45"]);
  assertEquals(await ranged("en", "bytes=1-3"), ["en", 206, true, '"en"', "N45"]);
  const revalidations = s.origin.requests.slice(3).map((r) => r.headers.get("if-none-match"));
  assertEquals(revalidations, ['"fr"', '"en"']);
  await s.session.close();
});

Deno.test("RFC 9110 §14.1.2: a range cut from a stored body is the origin's bytes on every backend, across Deno KV's 64 KiB chunks", async (t) => {
  const body = patterned(200_000, 3);
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        const s = scripted((clock) => () => reply(body, { "cache-control": "max-age=60" }, { clock }), {
          backend: cache,
        });
        try {
          await (await s.session.fetch(URL_A)).arrayBuffer();
          const ranges: [string, number, number][] = [
            ["bytes=0-0", 0, 0],
            ["bytes=65535-65537", 65535, 65537],
            ["bytes=131071-131073", 131071, 131073],
            ["bytes=1000-150000", 1000, 150000],
            ["bytes=-70000", 130000, 199999],
            ["bytes=199999-", 199999, 199999],
          ];
          for (const [range, first, last] of ranges) {
            const r = await s.session.fetch(URL_A, { headers: { range } });
            const got = new Uint8Array(await r.arrayBuffer());
            const want = body.subarray(first, last + 1);
            assertEquals(
              [r.status, r.fromCache, r.headers.get("content-range"), r.headers.get("content-length")],
              [206, true, `bytes ${first}-${last}/200000`, String(want.length)],
              range,
            );
            assertEquals(got.length === want.length && got.every((byte, i) => byte === want[i]), true, range);
          }
          assertEquals(s.origin.calls, 1);
        } finally {
          await s.session.close();
          await dispose(cache);
        }
      },
    });
  }
});

Deno.test("a range the cache cuts says it accepts byte ranges, though the origin said none", async () => {
  // (The origin's `Accept-Ranges: none` was copied onto the 206 and 416 that contradicted it.)
  const s = scripted(() => () =>
    reply("0123456789", { "cache-control": "max-age=60", "accept-ranges": "none" })
  );
  await s.get();
  for (const range of ["bytes=2-4", "bytes=20-"]) {
    const part = await s.session.fetch(URL_A, { headers: { range } });
    await part.body?.cancel();
    assertEquals([part.status, part.headers.get("accept-ranges")], [
      range === "bytes=2-4" ? 206 : 416,
      "bytes",
    ]);
  }
  // The whole response keeps the origin's word.
  const whole = await s.session.fetch(URL_A);
  assertEquals([whole.status, whole.headers.get("accept-ranges"), await whole.text()], [
    200,
    "none",
    "0123456789",
  ]);
  await s.session.close();
});
