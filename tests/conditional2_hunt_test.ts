/**
 * Requests that carry their own validators (RFC 9111 §4.3.2, RFC 9110 §13), second pass: what
 * the cache does with such a request that the stored response does not answer, and with the
 * origin's answer to it.
 */
import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

/** A session whose origin sends `v<n>` with an ETag, fails while `down`, and answers `If-None-Match: "v1"` with a 304. */
function flaky(cacheControl: string) {
  const state = { down: undefined as "error" | "503" | undefined };
  const s = scripted((clock) => (request, n) => {
    if (state.down === "error") throw new TypeError("connection refused");
    if (state.down === "503") return reply("down", {}, { status: 503, clock });
    if (request.headers.get("if-none-match") === '"v1"') {
      return reply(null, { "cache-control": cacheControl, etag: '"v1"' }, { status: 304, clock });
    }
    return reply(`v${n}`, { "cache-control": cacheControl, etag: `"v${n}"` }, { clock });
  });
  return { ...s, state };
}

// RFC 5861 §4 and the staleIfError option: a stale response may be served when the origin fails.
// A request with its own If-None-Match went past the cache (a proxy forwards a browser's): while
// the origin was down, it failed (or got the 503), though a plain request got the stored response.
Deno.test("a request with its own If-None-Match gets the stored response under stale-if-error when the origin fails: a 304 if it names it, else the whole", async (t) => {
  for (const down of ["error", "503"] as const) {
    await t.step(down, async () => {
      const s = flaky("max-age=10, stale-if-error=600");
      await s.get();
      s.clock.tick(20);
      s.state.down = down;
      const named = await s.get({ headers: { "if-none-match": '"v1"' } });
      assertEquals([named.response.status, named.body, named.response.fromCache], [304, "", true]);
      const other = await s.get({ headers: { "if-none-match": '"v0"' } });
      assertEquals([other.response.status, other.body, other.response.fromCache], [200, "v1", true]);
      const since = await s.get({ headers: { "if-modified-since": "Sat, 01 Jan 2000 00:00:00 GMT" } });
      assertEquals([since.response.status, since.body, since.response.fromCache], [200, "v1", true]);
      await s.session.close();
    });
  }
});

// A request with its own validators went past the cache, and its answer was never stored: once
// the stored response was stale, a proxy whose clients revalidate their copies (every browser
// does) sent every request to the origin, and the origin's new 200s refreshed nothing.
Deno.test("a request with its own If-None-Match that the stale stored response does not answer stores the origin's 200", async () => {
  const s = flaky("max-age=10");
  await s.get();
  s.clock.tick(20);
  const changed = await s.get({ headers: { "if-none-match": '"v0"' } });
  assertEquals([changed.response.status, changed.body, changed.response.fromCache], [200, "v2", false]);
  // The origin got the caller's validator alone, not the stored response's.
  assertEquals(s.origin.requests[1]!.headers.get("if-none-match"), '"v0"');
  const plain = await s.get();
  assertEquals([plain.body, plain.response.fromCache, s.origin.calls], ["v2", true, 2]);
  const named = await s.get({ headers: { "if-none-match": '"v2"' } });
  assertEquals([named.response.status, named.response.fromCache, s.origin.calls], [304, true, 2]);
  await s.session.close();
});

// A 304 that the origin sends for the caller's own copy says nothing of the stored response: it
// is no newer answer that supersedes it. A reload with If-None-Match (and, since the fix above,
// any request with it that the stored response did not answer) had the stale stored response
// deleted, which then was not there to serve when the origin failed.
Deno.test("an origin's 304 to the caller's own If-None-Match leaves the stale stored response in place", async (t) => {
  for (const cache of ["default", "reload", "no-cache"] as const) {
    await t.step(cache, async () => {
      // (The stored response names no validator: a no-cache request then sends the caller's own.)
      const state = { down: false };
      const s = scripted((clock) => (request, n) => {
        if (state.down) throw new TypeError("connection refused");
        if (request.headers.get("if-none-match") === '"mine"') return reply(null, {}, { status: 304, clock });
        return reply(`v${n}`, { "cache-control": "max-age=10, stale-if-error=600" }, { clock });
      });
      await s.get();
      s.clock.tick(20);
      const mine = await s.get({ cache, headers: { "if-none-match": '"mine"' } });
      assertEquals([mine.response.status, mine.response.fromCache], [304, false]);
      state.down = true;
      const plain = await s.get();
      assertEquals([plain.response.status, plain.body, plain.response.fromCache], [200, "v1", true]);
      await s.session.close();
    });
  }
});

// RFC 9111 §4.3.2 with §4.3.4: a request whose own If-None-Match names the stale stored response
// asks the origin about that very response. Its 304 went to the caller alone and freshened
// nothing, so the next request (a plain one, or the same client's again) asked the origin again.
Deno.test("a request whose own If-None-Match names the stale stored response revalidates it: the origin's 304 freshens it", async () => {
  const s = flaky("max-age=10");
  await s.get();
  s.clock.tick(20);
  const named = await s.get({ headers: { "if-none-match": '"v1"' } });
  assertEquals([named.response.status, named.response.revalidated, s.origin.calls], [304, true, 2]);
  // The origin was asked with the stored response's validator (the caller's names the same one).
  assertEquals(s.origin.requests[1]!.headers.get("if-none-match"), '"v1"');
  const plain = await s.get();
  assertEquals([plain.response.status, plain.body, plain.response.fromCache, s.origin.calls], [
    200,
    "v1",
    true,
    2,
  ]);
  const again = await s.get({ headers: { "if-none-match": '"v1"' } });
  assertEquals([again.response.status, again.response.fromCache, s.origin.calls], [304, true, 2]);
  await s.session.close();
});
