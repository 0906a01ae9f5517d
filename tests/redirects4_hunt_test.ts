/**
 * Redirects through the cache, a fourth pass: a `fetch` that follows redirects itself (a custom
 * one, or a browser's once it hid a redirect) and the revalidation of what it stored. Its `304` or
 * `HEAD` response may come from where the URL leads now, not from the stored response's URL.
 */
import { assertEquals } from "./_assert.ts";
import { type Clock, reached, reply } from "./_origin.ts";
import { scripted as setup } from "./_scripted.ts";

const A = "http://127.0.0.1";
/** The `Last-Modified` of both files: deployed at once. */
const DEPLOYED = "Mon, 01 Jan 2024 00:00:00 GMT";

/**
 * An origin behind a `fetch` that follows redirects whatever it is asked: `/a` answers itself
 * until `moved()` says it moved, then leads to `/b`, which answers a `GET` with a matching
 * If-Modified-Since with a `304` (a `HEAD` with a `200`). Both have the same Last-Modified.
 */
const moving = (moved: () => boolean) => (clock: Clock) => (request: Request) => {
  const headers = { "last-modified": DEPLOYED, "cache-control": "max-age=5" };
  if (!moved()) return reply(request.method === "HEAD" ? null : "old a", headers, { clock });
  if (request.method === "GET" && request.headers.get("if-modified-since") === DEPLOYED) {
    return reached(reply(null, headers, { status: 304, clock }), `${A}/b`);
  }
  return reached(reply(request.method === "HEAD" ? null : "b", headers, { clock }), `${A}/b`);
};

// Was wrong: the stored /a was revalidated with its Last-Modified, fetch followed /a's new redirect
// with it to /b, and /b's 304 (the same Last-Modified) freshened /a's old response: it was served
// for /a, as /a's own, where plain fetch gets /b.
Deno.test("redirects4 hunt: a 304 from where a fetch that follows redirects now leads freshens nothing", async () => {
  let moved = false;
  const s = setup(moving(() => moved));
  try {
    assertEquals((await s.get(undefined, `${A}/a`)).body, "old a");
    moved = true;
    s.clock.tick(10);
    const { response, body } = await s.get(undefined, `${A}/a`);
    assertEquals([body, response.url, response.redirected, response.fromCache], ["b", `${A}/b`, true, false]);
    // Asked again without validators, and what came is stored.
    assertEquals(s.origin.requests.map((request) => request.headers.has("if-modified-since")), [
      false,
      true,
      false,
    ]);
    assertEquals((await s.get(undefined, `${A}/a`)).body, "b");
    assertEquals(s.origin.calls, 3);
  } finally {
    await s.session.close();
  }
});

// Was wrong: a HEAD that fetch followed from /a to /b, whose response has /b's validators and
// length (none that differ from /a's), freshened /a's old response: a GET was then served it for
// five more seconds, where plain fetch gets /b.
Deno.test("redirects4 hunt: a HEAD response from where a fetch that follows redirects now leads outdates the stored one", async () => {
  let moved = false;
  const s = setup(moving(() => moved));
  try {
    assertEquals((await s.get(undefined, `${A}/a`)).body, "old a");
    moved = true;
    s.clock.tick(10);
    const head = await s.session.fetch(`${A}/a`, { method: "HEAD" });
    await head.body?.cancel();
    assertEquals([head.url, head.redirected], [`${A}/b`, true]);
    const { response, body } = await s.get(undefined, `${A}/a`);
    assertEquals([body, response.url, response.redirected, response.fromCache], ["b", `${A}/b`, true, false]);
  } finally {
    await s.session.close();
  }
});
