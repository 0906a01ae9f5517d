/**
 * Request modes and their combinations, third pass: the caller's own `If-None-Match` and
 * `If-Modified-Since` crossed with what is stored (after `modes_hunt_test.ts`,
 * `modes2_hunt_test.ts` and `conditional2_hunt_test.ts`).
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { httpDate, reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

/**
 * An origin whose representation is `v<version>` with that ETag and a Last-Modified, that answers
 * an If-None-Match or If-Modified-Since naming it with a 304, and that fails while `down`.
 */
function versioned() {
  const state = { version: 1, down: false };
  const s = scripted((clock) => (request) => {
    if (state.down) throw new TypeError("connection refused");
    const etag = `"v${state.version}"`;
    const modified = httpDate(0, state.version);
    const headers = { "cache-control": "max-age=10, stale-if-error=600", etag, "last-modified": modified };
    const since = request.headers.get("if-modified-since");
    const named = request.headers.get("if-none-match")?.split(/\s*,\s*/).includes(etag) ??
      (since !== null && Date.parse(since) >= Date.parse(modified));
    if (named) return reply(null, headers, { status: 304, clock });
    return reply(request.method === "HEAD" ? null : `v${state.version}`, headers, { clock });
  }, { cacheStatus: true });
  return { ...s, state };
}

// RFC 9111 §4.3.4: a 304 with the stored response's strong ETag selects it for update. A request
// whose own validators named the stale stored response went to the origin with them, and the
// origin's 304, which was about that very response, freshened nothing: behind a proxy whose
// clients revalidate their copies (every browser does, and its copy is the stored one), the
// stored response stayed stale for good, and every request went to the origin.
Deno.test("a request whose own validators name the stale stored response revalidates it: the origin's 304 freshens it, and the caller gets a 304", async (t) => {
  const validators = {
    "If-None-Match": { "if-none-match": '"v1"' },
    "If-None-Match with another tag": { "if-none-match": '"v0", "v1"' },
    "If-Modified-Since": { "if-modified-since": httpDate(0, 1) },
  };
  for (const [name, headers] of Object.entries(validators)) {
    for (const method of ["GET", "HEAD"]) {
      await t.step(`${name}, ${method}`, async () => {
        const s = versioned();
        await s.get();
        s.clock.tick(20);
        const named = await s.get({ method, headers });
        assertEquals(
          [named.response.status, named.response.fromCache, named.response.headers.get("cache-status")],
          [304, true, "http-cache; fwd=stale; fwd-status=304; stored; ttl=10"],
        );
        // The origin was asked about the stored response, with its validators alone.
        const sent = s.origin.requests[1]!.headers;
        assertEquals([sent.get("if-none-match"), sent.get("if-modified-since")], ['"v1"', httpDate(0, 1)]);
        const plain = await s.get();
        assertEquals([plain.body, plain.response.fromCache, s.origin.calls], ["v1", true, 2]);
        await s.session.close();
      });
    }
  }
});

// RFC 9110 §13.2.1: the origin ignores the preconditions of a request whose response would be no
// 2xx (nor a 412). A request with its own If-None-Match or If-Modified-Since for a URL whose fresh
// stored response was a redirect or a 404 went to the origin each time, for the same answer: a
// browser's revalidation of the page a stored 301 leads to cost an origin request at each step.
Deno.test("a fresh stored redirect or 404 answers a request with its own If-None-Match or If-Modified-Since, as the origin would", async () => {
  const s = scripted((clock) => (request) => {
    const path = new URL(request.url).pathname;
    const fresh = { "cache-control": "max-age=600" };
    if (path === "/old") return reply(null, { ...fresh, location: "/new" }, { status: 301, clock });
    if (path === "/gone") return reply("gone", fresh, { status: 404, clock });
    const headers = { ...fresh, etag: '"n1"' };
    if (request.headers.get("if-none-match") === '"n1"') return reply(null, headers, { status: 304, clock });
    return reply("new", headers, { clock });
  });
  await s.get({}, "http://127.0.0.1/old");
  await s.get({}, "http://127.0.0.1/gone");
  const calls = s.origin.calls;
  const named = await s.get({ headers: { "if-none-match": '"n1"' } }, "http://127.0.0.1/old");
  assertEquals([named.response.status, named.response.url, named.response.fromCache], [
    304,
    "http://127.0.0.1/new",
    true,
  ]);
  const since = { "if-modified-since": httpDate(s.clock.now) };
  const gone = await s.get({ headers: since }, "http://127.0.0.1/gone");
  assertEquals([gone.response.status, gone.body, gone.response.fromCache], [404, "gone", true]);
  assertEquals(s.origin.calls, calls, "the origin was asked nothing");
  await s.session.close();
});
