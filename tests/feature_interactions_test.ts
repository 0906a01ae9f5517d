/**
 * Interactions between features: If-Range with cache modes that answer a Range from storage, a
 * stale-while-revalidate refresh started by a ranged request, Set-Cookie on a revalidating 304,
 * and a reload among Vary variants.
 */
import { assertEquals } from "./_assert.ts";
import { reply, settle } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";

Deno.test("RFC 9110 §13.1.5: a Range whose If-Range names another representation gets the whole stored response, in every cache mode", async () => {
  const s = setup((clock) => (request) => {
    if (request.headers.get("if-none-match") === '"b"') {
      return reply(null, { etag: '"b"' }, { status: 304, clock });
    }
    return reply("BBBBBBBBBB", { "cache-control": "max-age=60", etag: '"b"' }, { clock });
  });
  await s.get();
  // A client that holds the first bytes of "a" resumes: it must not get bytes of "b" as a 206.
  const resume = { range: "bytes=5-", "if-range": '"a"' };
  for (const cache of ["force-cache", "only-if-cached", "no-cache"] as const) {
    const init = {
      headers: resume,
      cache,
      ...(cache === "only-if-cached" ? { mode: "same-origin" as const } : {}),
    };
    const r = await s.session.fetch(URL_A, init);
    assertEquals([cache, r.status, r.headers.get("content-range"), await r.text()], [
      cache,
      200,
      null,
      "BBBBBBBBBB",
    ]);
  }
  // The same validator (strong) still gets the range.
  const same = await s.session.fetch(URL_A, {
    headers: { range: "bytes=5-", "if-range": '"b"' },
    cache: "force-cache",
  });
  assertEquals([same.status, await same.text()], [206, "BBBBB"]);
  await s.session.close();
});

Deno.test("RFC 9110 §13.1.5: an If-Range date gets the range only when it equals a strong stored Last-Modified, in every cache mode", async () => {
  // Last-Modified is strong when the stored Date is at least a second after it (§8.8.2.2).
  const strong = new Date(Date.now() - 3_600_000).toUTCString();
  const setupWith = (lastModified: (clock: { now: number }) => string) =>
    setup((clock) => (request) => {
      const headers = { "cache-control": "max-age=60", "last-modified": lastModified(clock) };
      if (request.headers.has("if-modified-since")) return reply(null, headers, { status: 304, clock });
      return reply("0123456789", headers, { clock });
    });
  const modes = ["force-cache", "only-if-cached", "no-cache"] as const;
  const ask = (s: ReturnType<typeof setupWith>, cache: typeof modes[number], ifRange: string) =>
    s.session.fetch(URL_A, {
      headers: { range: "bytes=5-", "if-range": ifRange },
      cache,
      ...(cache === "only-if-cached" ? { mode: "same-origin" as const } : {}),
    });
  const s = setupWith(() => strong);
  await s.get();
  const earlier = new Date(Date.parse(strong) - 1000).toUTCString();
  for (const cache of modes) {
    const exact = await ask(s, cache, strong);
    assertEquals([cache, exact.status, exact.headers.get("content-range"), await exact.text()], [
      cache,
      206,
      "bytes 5-9/10",
      "56789",
    ]);
    // Another date, or no date at all, names another representation: the whole 200.
    for (const other of [earlier, "not a date"]) {
      const whole = await ask(s, cache, other);
      assertEquals([cache, other, whole.status, whole.headers.get("content-range"), await whole.text()], [
        cache,
        other,
        200,
        null,
        "0123456789",
      ]);
    }
  }
  await s.session.close();
  // A Last-Modified equal to the stored Date is weak: it may have changed twice in that second.
  const w = setupWith((clock) => new Date(clock.now).toUTCString());
  const { response } = await w.get();
  const lastModified = response.headers.get("last-modified")!;
  assertEquals(lastModified, response.headers.get("date"));
  for (const cache of modes) {
    const whole = await ask(w, cache, lastModified);
    assertEquals([cache, whole.status, whole.headers.get("content-range"), await whole.text()], [
      cache,
      200,
      null,
      "0123456789",
    ]);
  }
  await w.session.close();
});

Deno.test("RFC 5861 §3: a stale-while-revalidate refresh started by a Range request refreshes the whole stored response", async () => {
  let version = 1;
  const s = setup((clock) => (request) => {
    const body = version === 1 ? "0123456789" : "ABCDEFGHIJ";
    const etag = `"v${version}"`;
    const headers = { "cache-control": "max-age=10, stale-while-revalidate=600", etag };
    if (request.headers.get("if-none-match") === etag) return reply(null, headers, { status: 304, clock });
    const range = /bytes=(\d+)-(\d+)/.exec(request.headers.get("range") ?? "");
    if (range) {
      return reply(body.slice(+range[1]!, +range[2]! + 1), {
        ...headers,
        "content-range": `bytes ${range[1]}-${range[2]}/10`,
      }, {
        status: 206,
        clock,
      });
    }
    return reply(body, headers, { clock });
  });
  await s.get();
  version = 2;
  s.clock.tick(20);
  const stale = await s.session.fetch(URL_A, { headers: { range: "bytes=0-3" } });
  assertEquals([stale.status, await stale.text()], [206, "0123"]);
  for (let i = 0; i < 20 && s.origin.calls < 2; i++) await settle();
  for (let i = 0; i < 5; i++) await settle();
  const after = await s.get();
  assertEquals([after.response.fromCache, after.body], [true, "ABCDEFGHIJ"]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.1: a reload of one Vary variant leaves the other variants stored", async () => {
  const s = setup((clock) => (request) =>
    reply(`lang=${request.headers.get("accept-language")}`, {
      "cache-control": "max-age=600",
      vary: "accept-language",
    }, {
      clock,
    })
  );
  const en = { headers: { "accept-language": "en" } }, fr = { headers: { "accept-language": "fr" } };
  await s.get(en);
  await s.get(fr);
  await s.get({ ...fr, cache: "reload" });
  const again = await s.get(en);
  assertEquals([again.response.fromCache, again.body, s.origin.calls], [true, "lang=en", 3]);
  await s.session.close();
});
Deno.test("a Set-Cookie that the origin sends with a revalidating 304 reaches the caller, though it is not stored", async () => {
  let n = 0;
  const s = setup((clock) => (request) => {
    n++;
    const headers = { "cache-control": "max-age=10", etag: '"c"', "set-cookie": `session=s${n}` };
    if (request.headers.get("if-none-match") === '"c"') return reply(null, headers, { status: 304, clock });
    return reply("body", headers, { clock });
  });
  const first = await s.get();
  assertEquals(first.response.headers.get("set-cookie"), "session=s1");
  s.clock.tick(20);
  const revalidated = await s.get();
  assertEquals([revalidated.response.revalidated, revalidated.response.headers.get("set-cookie")], [
    true,
    "session=s2",
  ]);
  // Not stored: a hit carries none.
  const hit = await s.get();
  assertEquals([hit.response.fromCache, hit.response.revalidated, hit.response.headers.get("set-cookie")], [
    true,
    false,
    null,
  ]);
  await s.session.close();
});
