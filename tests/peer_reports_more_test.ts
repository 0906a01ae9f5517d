/**
 * More bugs reported against other HTTP caches (make-fetch-happen, http-cache-semantics and its
 * Rust port, got, a user of http-cache-semantics, Souin, ocache, Caddy's cache handler, Methanol),
 * each checked against this cache. None repeats a case of the other peer_reports files. Every test
 * asserts what RFC 9111 / RFC 9110 / RFC 5861 or our docs say is right, so it fails if we have the
 * peer's bug. Test names start with the peer issue.
 */
import { assert, assertEquals } from "./_assert.ts";
import { CachedSession } from "../mod.ts";
import { delay, loopback, until, within } from "./_fixtures.ts";
import { type Clock, httpDate, reply } from "./_origin.ts";
import { scripted as setup } from "./_scripted.ts";

const BASE = "http://127.0.0.1";

// ---------------------------------------------------------------------------------------------
// Header interpretation
// ---------------------------------------------------------------------------------------------

// zkat/make-fetch-happen#38 (npm/npm#18208): a registry sent `Vary: Accept, User-Agent)`; the
// cached entry was stored, and every later lookup threw "User-Agent) is not a legal HTTP header
// name", so installs failed until the cache was wiped. A Vary member that is no field name can
// match no request (RFC 9110 §12.5.5, RFC 9111 §4.1): the request must still succeed, and the
// response must never answer a request whose headers differ.
Deno.test("make-fetch-happen#38: a malformed Vary never makes a lookup throw, nor serves the variant to another request", async () => {
  for (const vary of ["Accept, User-Agent)", "accept ;", "Accept\tEncoding"]) {
    const errors: unknown[] = [];
    const s = setup(
      (clock) => (r, n) =>
        reply(`ua=${r.headers.get("user-agent")} #${n}`, { "cache-control": "max-age=60", vary }, { clock }),
      { onError: (error) => errors.push(error) },
    );
    const x = { headers: { "user-agent": "x" } };
    const first = await s.get(x);
    const again = await s.get(x);
    const other = await s.get({ headers: { "user-agent": "y" } });
    assertEquals(first.body, "ua=x #1");
    assert(again.body.startsWith("ua=x "), `${vary}: ${again.body}`);
    assertEquals(
      [other.body.startsWith("ua=y "), other.response.fromCache],
      [true, false],
      `${vary}: variant reused`,
    );
    assertEquals(errors, [], `${vary}: a cache failure was reported`);
    await s.session.close();
  }
});

// rusty-http-cache-semantics#35: a cached response was served with a `Date` rewritten to the time
// of serving as well as an advanced `Age`, so a downstream cache counted the age twice. `Date` is
// when the origin made the message (RFC 9110 §6.6.1); the cache says how long it held it in
// `Age` (RFC 9111 §4, §5.1).
Deno.test("rusty-http-cache-semantics#35: a hit keeps the origin's Date and carries the current Age", async () => {
  let sent = "";
  const s = setup((clock) => (_r, n) => {
    const response = reply(`v${n}`, { "cache-control": "max-age=60", age: "10" }, { clock });
    sent = response.headers.get("date")!;
    return response;
  });
  await s.get();
  s.clock.tick(20);
  const hit = await s.get();
  assertEquals(hit.response.fromCache, true);
  assertEquals(hit.response.headers.get("date"), sent, "the stored Date was replaced");
  const age = Number(hit.response.headers.get("age"));
  assert(age >= 30 && age < 32, `Age ${age} should be 10 (from upstream) + 20 (held here)`);
  await s.session.close();
});

// mizosoft/methanol#64 and #68 (also WebKit/WebKit#67293): `Expires: -1` failed to parse and the
// cache fell back to heuristic freshness from Last-Modified, serving the response as fresh.
// RFC 9111 §5.3: an invalid Expires (especially "0") means "already expired": explicit
// freshness of zero, which leaves no room for a heuristic (§4.2.2 applies only without explicit
// freshness).
Deno.test("methanol#64/#68: an invalid Expires means stale, never heuristic freshness from Last-Modified", async () => {
  for (const expires of ["-1", "0", "tomorrow"]) {
    let lastModified = "";
    const s = setup((clock) => (r, n) => {
      lastModified ||= httpDate(clock.now - 100 * 86_400_000); // heuristic: 10 days
      return n > 1 && r.headers.get("if-modified-since") === lastModified
        ? reply(null, { expires, "last-modified": lastModified }, { status: 304, clock })
        : reply(`v${n}`, { expires, "last-modified": lastModified }, { clock });
    });
    await s.get();
    s.clock.tick(5);
    const second = await s.get();
    assertEquals(s.origin.calls, 2, `Expires: ${expires} served without asking the origin`);
    assertEquals(s.origin.requests[1]?.headers.get("if-modified-since"), lastModified);
    assertEquals([second.body, second.response.revalidated], ["v1", true]);
    await s.session.close();
  }
});

// httpwg/http-core#128: interop testing found that many caches ignore `max-age="3600"`, though
// recipients "ought to accept both forms" of an argument (RFC 9111 §5.2) and directive names are
// case-insensitive (§5.2). notatallshaw/nab#683 had the same bug with `Max-Age`/`MAX-AGE`.
Deno.test("http-core#128: quoted and upper-case max-age are freshness, not 'no directive'", async () => {
  for (const cc of ['max-age="60"', "MAX-AGE=60", "Public, Max-Age=60"]) {
    const s = setup((clock) => (_r, n) => reply(`v${n}`, { "cache-control": cc }, { clock }));
    await s.get();
    s.clock.tick(30);
    const hit = await s.get();
    assertEquals([hit.body, hit.response.fromCache], ["v1", true], `${cc} not read as max-age=60`);
    s.clock.tick(40);
    const stale = await s.get();
    assertEquals([stale.body, stale.response.fromCache], ["v2", false], `${cc} read as more than 60 s`);
    await s.session.close();
  }
});

// npm/make-fetch-happen PR #260: it stored only 200, 301 and 308, so a 404 or 410 the origin let
// be cached was fetched again every time; http-tests/cache-tests#190 notes the heuristic cases of
// 301 and 308 were never checked. RFC 9110 §15.1 / RFC 9111 §4.2.2: those statuses are
// heuristically cacheable; 302 and 307 are not (they need explicit freshness).
Deno.test("make-fetch-happen#260: 301, 308, 404 and 410 are cached by heuristic freshness; 302 and 307 are not", async () => {
  for (
    const [status, reused] of [[301, true], [308, true], [404, true], [410, true], [302, false], [
      307,
      false,
    ]] as const
  ) {
    const s = setup((clock) => (_r, n) =>
      reply(`#${n}`, {
        location: `${BASE}/elsewhere`,
        "last-modified": httpDate(clock.now - 100 * 86_400_000),
      }, { status, clock })
    );
    await s.get({ redirect: "manual" });
    s.clock.tick(60);
    const second = await s.get({ redirect: "manual" });
    assertEquals(second.response.status, status);
    assertEquals(second.response.fromCache, reused, `${status}: reused=${second.response.fromCache}`);
    assertEquals(s.origin.calls, reused ? 1 : 2);
    await s.session.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Revalidation
// ---------------------------------------------------------------------------------------------

// apollographql/datasource-rest#320 (on http-cache-semantics' revalidatedPolicy): a 304 whose
// Last-Modified differed from the stored one did not match, so the 304 itself became "the
// response", and the data source threw on its empty body. RFC 9111 §4.3.4: a 304 that selects no
// stored response must not update one; the cache then has no response for its caller and asks
// again without validators (our docs), so the caller gets a full 200.
Deno.test("datasource-rest#320: a 304 naming another Last-Modified is not used; the caller gets a full 200", async () => {
  const s = setup((clock) => (r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=1", "last-modified": httpDate(clock.now - 7_200_000) }, {
        clock,
      })
      : r.headers.has("if-modified-since")
      ? reply(null, { "cache-control": "max-age=60", "last-modified": httpDate(clock.now - 60_000) }, {
        status: 304,
        clock,
      })
      : reply("v3", { "cache-control": "max-age=60" }, { clock })
  );
  await s.get();
  s.clock.tick(5);
  const second = await s.get();
  assertEquals(
    [second.response.status, second.body],
    [200, "v3"],
    "a mismatched 304 reached the caller or freshened v1",
  );
  assertEquals(second.response.revalidated, false);
  assertEquals(s.origin.requests[2]?.headers.get("if-modified-since") ?? null, null, "retry was conditional");
  const hit = await s.get();
  assertEquals([hit.body, hit.response.fromCache], ["v3", true]);
  await s.session.close();
});

// darkweak/souin#794 (from caddyserver/cache-handler#137): revalidating a stale must-revalidate
// entry for a request with `max-stale`, the cache added If-None-Match itself and passed the
// origin's 304 on to a client that had sent no conditional at all. A 304 answers only a
// conditional request (RFC 9110 §15.4.5): the cache's own validation must end in a 200.
Deno.test("souin#794: a 304 to the cache's own revalidation (must-revalidate, max-stale) reaches the caller as a 200", async () => {
  const s = setup((clock) => (r, n) =>
    n === 1
      ? reply("v1", { "cache-control": "max-age=1, must-revalidate", etag: '"v1"' }, { clock })
      : r.headers.get("if-none-match") === '"v1"'
      ? reply(null, { "cache-control": "max-age=1, must-revalidate", etag: '"v1"' }, { status: 304, clock })
      : reply("unexpected", {}, { clock })
  );
  await s.get();
  s.clock.tick(3);
  const second = await s.get({ headers: { "cache-control": "max-stale=6" } });
  assertEquals(
    s.origin.requests[1]?.headers.get("if-none-match"),
    '"v1"',
    "must-revalidate entry served stale",
  );
  assertEquals(
    [second.response.status, second.response.ok, second.body, second.response.revalidated],
    [200, true, "v1", true],
    "the origin's 304 leaked to an unconditional caller",
  );
  await s.session.close();
});

// sindresorhus/got#2317: once max-age ran out and the origin answered the revalidation with a
// 304, got's cached response never ended and the request hung. Here against a real loopback
// origin and the runtime's fetch, each revalidation must end with the stored body.
Deno.test("got#2317: a response revalidated by a real origin's 304 ends with the stored body, every time", async () => {
  const server = await loopback((request, response) => {
    if (request.headers["if-none-match"] === '"v1"') {
      response.writeHead(304, { etag: '"v1"', "cache-control": "max-age=0" }).end();
      return;
    }
    response.writeHead(200, { etag: '"v1"', "cache-control": "max-age=0", "content-type": "text/plain" })
      .end("hello");
  });
  const session = new CachedSession({ fetch });
  try {
    const url = `${server.url}/revalidated`;
    assertEquals(await (await session.fetch(url)).text(), "hello");
    for (let i = 1; i <= 3; i++) {
      const response = await within(5000, session.fetch(url));
      assertEquals(await within(5000, response.text()), "hello", `revalidation ${i}`);
      assertEquals([response.status, response.revalidated], [200, true]);
    }
    assertEquals(server.hits, 4);
  } finally {
    await session.close();
    await server.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Concurrency: coalesced requests in a shared cache
// ---------------------------------------------------------------------------------------------

/** Five identical requests while the origin holds the first; returns what each caller got. */
async function coalesced(
  answer: (clock: Clock, n: number) => Response,
  options: { shared?: boolean; storeSetCookie?: boolean } = {},
) {
  const g = Promise.withResolvers<void>();
  const s = setup((clock) => async (_r, n) => {
    if (n === 1) await g.promise;
    return answer(clock, n);
  }, options);
  const pending = Array.from({ length: 5 }, () => s.get());
  await until(() => s.origin.calls >= 1);
  await delay(10); // let the others reach the lead and wait on it
  g.resolve();
  const results = await within(5000, Promise.all(pending));
  await s.session.close();
  return { results, calls: s.origin.calls };
}

// unjs/ocache#61: coalescing handed one caller's freshly minted `Set-Cookie: sid=…` to every
// concurrent caller of the same key, so callers 2..N got someone else's session. Our sessions
// never store or serve Set-Cookie unless `storeSetCookie` (README): a coalesced caller must not
// get the leader's cookie either, in a private or a shared session.
Deno.test("ocache#61: coalesced callers never receive the leader's Set-Cookie", async () => {
  for (const shared of [false, true]) {
    const { results, calls } = await coalesced(
      (clock, n) => reply(`v${n}`, { "cache-control": "max-age=60", "set-cookie": `sid=${n}` }, { clock }),
      { shared },
    );
    assertEquals(calls, 1, "the storable response was not shared");
    const cookies = results.map((r) => r.response.headers.get("set-cookie"));
    assertEquals(
      cookies.filter((c) => c !== null),
      ["sid=1"],
      `shared=${shared}: ${JSON.stringify(cookies)}`,
    );
  }
});

// caddyserver/cache-handler#82 (and MDN's note on request collapse): users worried that a shared
// cache collapsing concurrent requests hands one user's personalised response to all of them.
// `private` means the response is for a single user and a shared cache must not store it
// (RFC 9111 §5.2.2.7); one that may not be stored may not be reused for the other requests
// (§4, "A response that is stored or storable can be used to satisfy multiple requests").
Deno.test("cache-handler#82: a shared session never hands a private (or no-store) response to coalesced callers", async () => {
  for (const cc of ["private, max-age=60", "no-store", 'max-age=60, private="x-user"']) {
    const { results, calls } = await coalesced(
      (clock, n) => reply(`user ${n}`, { "cache-control": cc, "x-user": `u${n}` }, { clock }),
      { shared: true },
    );
    const bodies = results.map((r) => r.body);
    if (cc.startsWith('max-age=60, private="')) {
      // Storable without the named field: shared, and the field is no one's.
      assertEquals(calls, 1);
      assertEquals(
        results.filter((r) => r.response.headers.get("x-user") !== null).length,
        1,
        "x-user shared",
      );
    } else {
      assertEquals(
        new Set(bodies).size,
        5,
        `${cc}: one user's response went to another: ${bodies.join(", ")}`,
      );
      assertEquals(calls, 5);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Invalidation
// ---------------------------------------------------------------------------------------------

// nodejs/undici#5509 (fixed by #5514): a POST answered `201 Location: /collection/123` left the
// stored GET of /collection/123 in place, so clients read the old resource. RFC 9111 §4.4: the
// Location and Content-Location URIs of a non-error response to an unsafe method are invalidated
// (our docs: those of the same origin), relative references resolved against the target URI.
Deno.test("undici#5509: Location and Content-Location of a POST's response (relative too) are invalidated, same origin only", async () => {
  const s = setup((clock) => (r, n) =>
    r.method === "POST"
      ? reply("created", { location: "/b", "content-location": "c?x=1" }, { status: 201, clock })
      : r.method === "PUT"
      ? reply("moved", { location: "http://localhost/b" }, { status: 200, clock })
      : reply(`${new URL(r.url).pathname} #${n}`, { "cache-control": "max-age=60" }, { clock })
  );
  const paths = [`${BASE}/b`, `${BASE}/dir/c?x=1`, `${BASE}/other`, "http://localhost/b"];
  for (const url of paths) await s.get(undefined, url);
  await s.get({ method: "PUT", body: "x" }, `${BASE}/dir/a`); // names another origin's /b
  assertEquals(
    (await s.get(undefined, "http://localhost/b")).response.fromCache,
    true,
    "cross-origin Location invalidated",
  );
  await s.get({ method: "POST", body: "x" }, `${BASE}/dir/a`);
  const fromCache = [];
  for (const url of paths) fromCache.push((await s.get(undefined, url)).response.fromCache);
  assertEquals(fromCache, [false, false, true, true], `${paths.join(", ")}`);
  await s.session.close();
});
