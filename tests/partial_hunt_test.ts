/**
 * Requests the cache answers in part or conditionally: Range / If-Range, HEAD, the caller's own
 * If-None-Match / If-Modified-Since, 206 from the origin, content codings with ranges.
 */
import { assertEquals } from "./_assert.ts";
import { type Clock, httpDate, reply } from "./_origin.ts";
import { refreshing, scripted, URL_A } from "./_scripted.ts";

const date = (clock: Clock, offsetSeconds = 0) => httpDate(clock.now, offsetSeconds);

Deno.test("RFC 9530 §2: a 206 served from storage does not carry the Content-Digest (nor Content-MD5) of the whole body", async () => {
  // Content-Digest is the digest of the message content: of a 206, the part sent. The stored one
  // is of the whole body, so a client that checks it would reject a correct part.
  const s = scripted((clock) => () =>
    reply("0123456789", {
      "cache-control": "max-age=60",
      "content-digest": "sha-256=:hmCdcxFTV2mXDMXZGKZlKIjj1Vrl61IUrlAZ3V8xIkA=:",
      "content-md5": "eB5eJF1ptWaXm4bijSPyxw==",
      "repr-digest": "sha-256=:hmCdcxFTV2mXDMXZGKZlKIjj1Vrl61IUrlAZ3V8xIkA=:",
    }, { clock })
  );
  await s.get();
  const part = await s.session.fetch(URL_A, { headers: { range: "bytes=2-4" } });
  assertEquals(
    [
      part.status,
      await part.text(),
      part.headers.get("content-digest"),
      part.headers.get("content-md5"),
      // Repr-Digest is of the representation, which the part still is of.
      part.headers.get("repr-digest"),
    ],
    [206, "234", null, null, "sha-256=:hmCdcxFTV2mXDMXZGKZlKIjj1Vrl61IUrlAZ3V8xIkA=:"],
  );
  const none = await s.session.fetch(URL_A, { headers: { range: "bytes=20-" } });
  assertEquals([none.status, none.headers.get("content-digest")], [416, null]);
  await none.body?.cancel();
  // The whole 200 keeps them.
  const whole = await s.get();
  assertEquals(whole.response.headers.get("content-digest") !== null, true);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

Deno.test("RFC 9111 §4.3.5: a HEAD response's coded Content-Length does not outdate a stored coded GET stored without one", async () => {
  // The stored body is what fetch decoded; the origin's Content-Length of a coded response counts
  // coded bytes. A GET sent chunked has none to compare with: the HEAD's length says nothing of
  // whether it describes another representation, and its matching ETag says it does not.
  const s = scripted((clock) => (request) =>
    request.method === "HEAD"
      ? reply(null, {
        "cache-control": "max-age=60",
        etag: '"v1"',
        "content-encoding": "gzip",
        "content-length": "31",
      }, { clock })
      : reply("0123456789", { "cache-control": "max-age=10", etag: '"v1"', "content-encoding": "gzip" }, {
        clock,
      })
  );
  await s.get();
  s.clock.tick(20);
  const head = await s.session.fetch(URL_A, { method: "HEAD" });
  assertEquals([head.status, s.origin.calls], [200, 2]);
  // Freshened by the HEAD: the GET is a hit.
  const again = await s.get();
  assertEquals([again.response.fromCache, again.body, s.origin.calls], [true, "0123456789", 2]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.3.5: a HEAD response's Content-Length does not outdate a stored HEAD response stored without one", async () => {
  // A HEAD response stored alone has no body: the length of that (0) says nothing of the
  // representation's, which its first response did not declare. (Before: the entry was taken out
  // by every HEAD that sent a Content-Length, though its validators matched.)
  const s = scripted((clock) => (_request, n) =>
    reply(null, {
      "cache-control": "max-age=10",
      etag: '"v1"',
      ...(n === 1 ? {} : { "content-length": "10" }),
    }, { clock })
  );
  const head = () => s.session.fetch(URL_A, { method: "HEAD" });
  assertEquals([(await head()).headers.get("content-length"), s.origin.calls], [null, 1]);
  s.clock.tick(20);
  assertEquals([(await head()).status, s.origin.calls], [200, 2]);
  // Freshened by that HEAD: the next one is a hit.
  const again = await head();
  assertEquals([again.fromCache, s.origin.calls], [true, 2]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.3.1: a no-cache request's own If-None-Match is not sent beside the stored Last-Modified", async () => {
  // The stored response has only Last-Modified; the resource has changed since, and the caller
  // holds its new copy ("x"). The origin answers the caller's If-None-Match, which takes precedence
  // (RFC 9110 §13.2.2), with a 304 that names no validator. (Before: the cache sent it beside its
  // If-Modified-Since and took that 304 as its own, so the old response was freshened and served
  // as current for the next minute.)
  const s = scripted((clock) => (request, n) => {
    if (n === 1) {
      return reply("v1", { "cache-control": "max-age=10", "last-modified": date(clock, -3600) }, { clock });
    }
    if (request.headers.has("if-none-match")) {
      return reply(null, { "cache-control": "max-age=60" }, { status: 304, clock });
    }
    return reply("v2", { "cache-control": "max-age=60", "last-modified": date(clock), etag: '"x"' }, {
      clock,
    });
  });
  await s.get();
  const revalidated = await s.get({ cache: "no-cache", headers: { "if-none-match": '"x"' } });
  assertEquals([revalidated.response.status, revalidated.body], [200, "v2"]);
  const next = await s.get();
  assertEquals([next.body, next.response.fromCache, s.origin.calls], ["v2", true, 2]);
  await s.session.close();
});

Deno.test("RFC 5861 §3: the background refresh of a response served 304 to If-None-Match: * does not send the caller's If-None-Match", async () => {
  // A stored response with only Last-Modified: the cache revalidates it with If-Modified-Since. The
  // caller's `*` (which the cache answered itself) would make the origin answer 304 whatever changed
  // (If-None-Match takes precedence, RFC 9110 §13.2.2), and that 304 freshens nothing.
  const s = refreshing((clock) => (request) => {
    if (request.headers.get("if-none-match") === "*") return reply(null, {}, { status: 304, clock });
    if (request.headers.has("if-modified-since")) {
      return reply("v2", {
        "cache-control": "max-age=10, stale-while-revalidate=60",
        "last-modified": date(clock, -1),
      }, { clock });
    }
    return reply("v1", {
      "cache-control": "max-age=10, stale-while-revalidate=60",
      "last-modified": date(clock, -100),
    }, { clock });
  });
  assertEquals(await s.served(), "v1:false");
  s.clock.tick(20);
  // Served 304 by the cache (the body is empty), then the refresh lands.
  assertEquals(await s.served({ headers: { "if-none-match": "*" } }), ":true");
  const sent = s.origin.requests[1]!;
  assertEquals([sent.headers.get("if-none-match"), sent.headers.has("if-modified-since")], [null, true]);
  // The refresh stored v2 (with the caller's `*`, the origin's 304 freshened v1 instead).
  assertEquals(await s.served(), "v2:true");
  await s.session.close();
});

Deno.test("RFC 9110 §15.5.17: a 416 the origin sent to a Range request is not served to a request without it", async () => {
  // The 416 answers that request's Range, not the resource: a GET without Range gets the resource.
  const s = scripted((clock) => (request) =>
    request.headers.has("range")
      ? reply(null, { "cache-control": "max-age=60", "content-range": "bytes */10" }, { status: 416, clock })
      : reply("0123456789", { "cache-control": "max-age=60" }, { clock })
  );
  const none = await s.session.fetch(URL_A, { headers: { range: "bytes=20-" } });
  assertEquals(none.status, 416);
  await none.body?.cancel();
  const whole = await s.get();
  assertEquals([whole.response.status, whole.body], [200, "0123456789"]);
  await s.session.close();
});

Deno.test("RFC 9111 §4.3.5: a HEAD's 200 does not freshen a stored GET response of another status (a redirect)", async () => {
  // /a redirected once; now the origin answers it with a 200. That 200 describes another response
  // than the stored 301: the redirect may not be made fresh by it.
  const A = "http://127.0.0.1/a";
  const s = scripted((clock) => (request) => {
    if (request.url === A) {
      return s.origin.calls === 1
        ? reply(null, { "cache-control": "max-age=10", location: "/b" }, { status: 301, clock })
        : reply(request.method === "HEAD" ? null : "now a", { "cache-control": "max-age=60" }, { clock });
    }
    return reply("b", { "cache-control": "max-age=600" }, { clock });
  });
  assertEquals((await s.get(undefined, A)).body, "b");
  s.clock.tick(20);
  const head = await s.session.fetch(A, { method: "HEAD" });
  assertEquals([head.status, head.redirected], [200, false]);
  const after = await s.get(undefined, A);
  assertEquals([after.response.status, after.body, after.response.redirected], [200, "now a", false]);
  await s.session.close();
});

Deno.test("RFC 9111 §5.2.1.7 with §4.3.2: only-if-cached and an If-None-Match the stored response does not match get the stored 200, not a 504", async () => {
  // The cache evaluates the condition itself; false, the request is served as if it had none
  // (RFC 9110 §13.1.2), and a usable stored response is there to serve.
  const s = scripted((clock) => () =>
    reply("v1", { "cache-control": "max-age=60", etag: '"v1"' }, { clock })
  );
  await s.get();
  const other = await s.get({ headers: { "cache-control": "only-if-cached", "if-none-match": '"v0"' } });
  assertEquals([other.response.status, other.response.fromCache, other.body], [200, true, "v1"]);
  const same = await s.get({ headers: { "cache-control": "only-if-cached", "if-none-match": '"v1"' } });
  assertEquals([same.response.status, same.response.fromCache], [304, true]);
  const since = await s.get({
    headers: { "cache-control": "only-if-cached", "if-modified-since": date(s.clock, -3600) },
  });
  assertEquals([since.response.status, since.body], [200, "v1"]);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

Deno.test("a 304 the cache makes for the caller's If-None-Match has the status text of one from the origin", async () => {
  // As 206 and 416 made from storage do: fetch gives an origin's 304 as "Not Modified".
  const s = scripted((clock) => () =>
    reply("v1", { "cache-control": "max-age=60", etag: '"v1"' }, { clock })
  );
  await s.get();
  const same = await s.get({ headers: { "if-none-match": '"v1"' } });
  assertEquals([same.response.status, same.response.statusText], [304, "Not Modified"]);
  await s.session.close();
});

Deno.test("RFC 9111 §5.2.1.7: only-if-cached with a precondition for the origin (If-Match, If-Range) gets a 504, and nothing reaches the origin", async () => {
  // The cache may not evaluate If-Match, If-Unmodified-Since or If-Range (§4.3.2), so no stored
  // response satisfies the request; only-if-cached forbids asking the origin.
  const s = scripted((clock) => () =>
    reply("v1", { "cache-control": "max-age=60", etag: '"v1"' }, { clock })
  );
  await s.get();
  for (
    const headers of [{ "if-match": '"v1"' }, { range: "bytes=0-0", "if-range": '"v1"' }, {
      "if-unmodified-since": date(s.clock),
    }]
  ) {
    const r = await s.get({ headers: { "cache-control": "only-if-cached", ...headers } });
    assertEquals([r.response.status, s.origin.calls], [504, 1], JSON.stringify(headers));
  }
  await s.session.close();
});
