/**
 * Redirects the session follows itself, step by step, compared with what plain `fetch` does on
 * each runtime (Fetch standard §4.4, HTTP-redirect fetch): the header fields each step carries,
 * the key each step is stored under, steps that bypass the cache, and loops served from the cache.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted as setup } from "./_scripted.ts";
import { loopback, within } from "./_fixtures.ts";
import { CachedSession, DO_NOT_CACHE } from "../mod.ts";

const A = "http://a.test";
const B = "http://b.test";

// Was wrong: a Host the caller set went on to the other origin, naming the first origin's host
// there; undici and Bun's fetch drop it with the credentials when a redirect leaves the origin.
Deno.test("redirects2 hunt: a redirect to another origin does not carry the caller's Host, one within the origin does", async () => {
  const s = setup((clock) => (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/away") return reply(null, { location: `${B}/there` }, { status: 302, clock });
    if (url.pathname === "/near") return reply(null, { location: "/here" }, { status: 302, clock });
    const host = request.headers.get("host");
    const auth = request.headers.get("authorization");
    return reply(`${url.host} host ${host} auth ${auth} x ${request.headers.get("x-custom")}`, {}, { clock });
  });
  const headers = { host: "vhost.example", authorization: "Bearer alice", "x-custom": "1" };
  try {
    assertEquals((await s.get({ headers }, `${A}/away`)).body, "b.test host null auth null x 1");
    assertEquals(s.origin.requests[0]!.headers.get("host"), "vhost.example");
    assertEquals(
      (await s.get({ headers }, `${A}/near`)).body,
      "a.test host vhost.example auth Bearer alice x 1",
    );
  } finally {
    await s.session.close();
  }
});

// Was wrong: a URL that bypasses the cache by its pattern (DO_NOT_CACHE) was sent with
// redirect: "follow", so fetch followed its redirect out of the cache's sight: where it led was
// never looked up nor stored, however long its response said it was fresh.
Deno.test("redirects2 hunt: a URL that DO_NOT_CACHE bypasses has its redirect followed through the cache", async () => {
  const server = await loopback((request, response) => {
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    if (path === "/live/now") return void response.writeHead(302, { location: "/static/v1" }).end();
    if (path === "/old") {
      return void response.writeHead(301, { location: "/live/go", "cache-control": "max-age=600" }).end();
    }
    if (path === "/live/go") return void response.writeHead(302, { location: "/static/v2" }).end();
    response.writeHead(200, { "cache-control": "max-age=600" }).end(path);
  });
  const session = new CachedSession({ urlsExpireAfter: { "*/live/*": DO_NOT_CACHE } });
  const get = async (path: string) => {
    const response = await session.fetch(server.url + path);
    return `${await response.text()} ${response.redirected} ${response.fromCache}`;
  };
  try {
    assertEquals(await get("/live/now"), "/static/v1 true false");
    assertEquals(await get("/live/now"), "/static/v1 true true");
    assertEquals([server.hitsOf("/live/now"), server.hitsOf("/static/v1")], [2, 1]);
    // A stored redirect to such a URL, and on to a stored response: only the middle step is asked.
    assertEquals(await get("/old"), "/static/v2 true false");
    assertEquals(await get("/old"), "/static/v2 true true");
    assertEquals([server.hitsOf("/old"), server.hitsOf("/live/go"), server.hitsOf("/static/v2")], [1, 2, 1]);
    // The request's own DO_NOT_CACHE is every step's: nothing is read from the cache.
    const own = await session.fetch(`${server.url}/live/now`, { expireAfter: DO_NOT_CACHE });
    assertEquals([await own.text(), own.fromCache, server.hitsOf("/static/v1")], ["/static/v1", false, 2]);
  } finally {
    await session.close();
    await server.close();
  }
});

// Was wrong: a keyFn that failed on one URL of a chain had fetch follow the rest of it, so the
// steps after it were neither looked up nor stored.
Deno.test("redirects2 hunt: a step whose keyFn fails bypasses the cache, and the steps after it do not", async () => {
  const server = await loopback((request, response) => {
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    if (path === "/unkeyed") return void response.writeHead(302, { location: "/target" }).end();
    response.writeHead(200, { "cache-control": "max-age=600" }).end(path);
  });
  const errors: unknown[] = [];
  const session = new CachedSession({
    keyFn: (request, key) => {
      if (request.url.pathname === "/unkeyed") throw new Error("no key for this one");
      return key();
    },
    onError: (error) => errors.push(error),
  });
  try {
    for (const fromCache of [false, true]) {
      const response = await session.fetch(`${server.url}/unkeyed`);
      assertEquals([await response.text(), response.redirected, response.fromCache], [
        "/target",
        true,
        fromCache,
      ]);
    }
    assertEquals([server.hitsOf("/unkeyed"), server.hitsOf("/target")], [2, 1]);
    assertEquals(errors.length, 2);
  } finally {
    await session.close();
    await server.close();
  }
});

// Checked fine (kept as a guard): fresh stored redirects that lead to each other are followed from
// the cache, and fail as fetch does after 20 of them, rather than loop.
Deno.test("redirects2 hunt: a loop of stored redirects fails with a TypeError after 20, asking the origin once per URL", async () => {
  const s = setup((clock) => (request) => {
    const next = new URL(request.url).pathname === "/ping" ? "/pong" : "/ping";
    return reply(null, { location: next, "cache-control": "max-age=600" }, { status: 301, clock });
  });
  try {
    for (let round = 0; round < 2; round++) {
      await within(5000, assertRejects(() => s.session.fetch(`${A}/ping`), TypeError, "20 redirects"));
    }
    assertEquals(s.origin.calls, 2);
  } finally {
    await s.session.close();
  }
});

// Checked fine (kept as a guard): the step after a redirect to another origin is keyed as the
// request sent there, without the credentials it dropped: stored once for every user, and the
// first step, keyed by its credentials, is asked again for another user.
Deno.test("redirects2 hunt: the step after a redirect to another origin is keyed without the credentials it dropped", async () => {
  const s = setup((clock) => (request) => {
    const url = new URL(request.url);
    if (url.origin === A) {
      return reply(null, { location: `${B}/y`, "cache-control": "private, max-age=600" }, {
        status: 301,
        clock,
      });
    }
    return reply(`y for ${request.headers.get("authorization")}`, {
      "cache-control": "max-age=600",
      vary: "authorization",
    }, { clock });
  });
  const as = (user: string) => ({ headers: { authorization: `Bearer ${user}` } });
  try {
    const first = await s.get(as("alice"), `${A}/x`);
    assertEquals([first.body, first.response.url, first.response.fromCache], ["y for null", `${B}/y`, false]);
    const direct = await s.get(undefined, `${B}/y`);
    assertEquals([direct.body, direct.response.fromCache, direct.response.redirected], [
      "y for null",
      true,
      false,
    ]);
    const bob = await s.get(as("bob"), `${A}/x`);
    assertEquals([bob.body, bob.response.fromCache, bob.response.redirected], ["y for null", true, true]);
    assertEquals(s.origin.requests.map((request) => request.url), [`${A}/x`, `${B}/y`, `${A}/x`]);
    assert(
      s.origin.requests.every((request) =>
        new URL(request.url).origin === A || !request.headers.has("authorization")
      ),
    );
  } finally {
    await s.session.close();
  }
});

// Checked fine (kept as a guard): a fresh stored redirect to a stale stored response revalidates
// that response alone, and the answer keeps the url and redirected of the chain.
Deno.test("redirects2 hunt: a fresh stored redirect to a stale response revalidates only where it leads", async () => {
  const s = setup((clock) => (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/from") {
      return reply(null, { location: "/to", "cache-control": "max-age=600" }, { status: 301, clock });
    }
    const headers = { etag: '"v1"', "cache-control": "max-age=10" };
    return request.headers.get("if-none-match") === '"v1"'
      ? reply(null, headers, { status: 304, clock })
      : reply("to", headers, { clock });
  });
  try {
    assertEquals((await s.get(undefined, `${A}/from`)).body, "to");
    s.clock.tick(20);
    const { response, body } = await s.get(undefined, `${A}/from`);
    assertEquals([body, response.url, response.redirected, response.revalidated], [
      "to",
      `${A}/to`,
      true,
      true,
    ]);
    assertEquals(
      s.origin.requests.map((request) =>
        `${new URL(request.url).pathname} ${request.headers.get("if-none-match")}`
      ),
      ["/from null", "/to null", '/to "v1"'],
    );
  } finally {
    await s.session.close();
  }
});
