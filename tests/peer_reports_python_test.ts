/**
 * Bugs reported against the Python peers (requests-cache, aiohttp-client-cache, CacheControl,
 * hishel), each checked against this cache. Every test asserts what RFC 9111 / RFC 5861 or our
 * docs say is right, so it fails if we have the same bug.
 */
import { assert, assertEquals } from "./_assert.ts";
import { type CachedSessionOptions, EXPIRE_IMMEDIATELY, NEVER_EXPIRE } from "../mod.ts";
import { reply, settle } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";

// requests-cache#1137: alternating Vary'd header values never came from the cache again.
Deno.test("requests-cache#1137: Vary variants requested alternately are each served from the cache", async () => {
  const s = setup((clock) => (request) =>
    reply(`as ${request.headers.get("accept")}`, { "cache-control": "max-age=600", vary: "accept" }, {
      clock,
    })
  );
  const json = { headers: { accept: "application/json" } };
  const text = { headers: { accept: "text/plain" } };
  await s.get(json);
  await s.get(text);
  const a = await s.get(json);
  const b = await s.get(text);
  assertEquals([a.response.fromCache, a.body], [true, "as application/json"], "json variant not reused");
  assertEquals([b.response.fromCache, b.body], [true, "as text/plain"], "text variant not reused");
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

// requests-cache#995: stale_if_error ignored when the stale entry is revalidated (has a validator).
Deno.test("requests-cache#995: staleIfError serves stale when the conditional revalidation fails", async (t) => {
  for (const failure of ["503", "network error"]) {
    await t.step(failure, async () => {
      const s = setup((clock) => (_request, n) => {
        if (n === 1) return reply("v1", { etag: '"a"', "cache-control": "max-age=1" }, { clock });
        if (failure === "503") return reply("down", {}, { status: 503, clock });
        throw new TypeError("connection refused");
      }, { staleIfError: true });
      await s.get();
      s.clock.tick(5);
      const { response, body } = await s.get();
      assertEquals([response.status, body, response.fromCache], [200, "v1", true]);
      assertEquals(
        s.origin.requests[1]?.headers.get("if-none-match"),
        '"a"',
        "revalidation was not conditional",
      );
      await s.session.close();
    });
  }
});

// requests-cache#464: a 304 did not refresh the stored expiration; every later request revalidated.
Deno.test("requests-cache#464: a 304 freshens the entry so the next request is a plain hit", async () => {
  const s = setup((clock) => (_request, n) =>
    n === 1
      ? reply("v1", { etag: '"a"', "cache-control": "max-age=10" }, { clock })
      : reply(null, { etag: '"a"', "cache-control": "max-age=100" }, { status: 304, clock })
  );
  await s.get();
  s.clock.tick(20);
  const revalidated = await s.get();
  assertEquals([revalidated.response.revalidated, revalidated.body], [true, "v1"]);
  s.clock.tick(50);
  const hit = await s.get();
  assertEquals([hit.response.fromCache, hit.response.revalidated, hit.body], [true, false, "v1"]);
  assertEquals(s.origin.calls, 2, "the 304 did not freshen the stored response");
  await s.session.close();
});

// requests-cache#409 (fixed by #410): ignored parameters stayed in the stored response's URL.
Deno.test("requests-cache#409: ignoredParameters are redacted from what is stored, not only from the key", async () => {
  const s = setup((clock) => () => reply("items", { "cache-control": "max-age=600" }, { clock }), {
    ignoredParameters: ["api_key"],
  });
  await s.get(undefined, "http://127.0.0.1/v1/items?page=2&api_key=SECRET123");
  const hit = await s.get(undefined, "http://127.0.0.1/v1/items?api_key=OTHER&page=2");
  assert(hit.response.fromCache, "ignored parameter still in the key");
  const urls = await s.session.cache.urls();
  assertEquals(urls, ["http://127.0.0.1/v1/items?page=2"]);
  for await (const { entry } of s.session.cache.entries()) {
    assert(!JSON.stringify(entry).includes("SECRET123"), "the secret reached the stored entry");
  }
  assert(!hit.response.url.includes("SECRET123"), `served url leaks the secret: ${hit.response.url}`);
  await s.session.close();
});

// requests-cache#808 (and #888): redacting/normalising changed the URL of a cached response
// (`code%3D123` became `code=123`).
Deno.test("requests-cache#808: a cached response keeps the URL the original response had", async (t) => {
  for (const options of [{}, { ignoredParameters: ["api_key"] }] as CachedSessionOptions[]) {
    await t.step(JSON.stringify(options), async () => {
      const s = setup((clock) => () => reply("x", { "cache-control": "max-age=600" }, { clock }), options);
      const url = "http://127.0.0.1/search?where=code%3D123&b=%2Fx+y";
      const first = await s.get(undefined, url);
      const second = await s.get(undefined, url);
      assert(second.response.fromCache);
      assertEquals(second.response.url, first.response.url);
      await s.session.close();
    });
  }
});

// requests-cache#499: `?time` and `?station` (parameters without values) got one cache key.
Deno.test("requests-cache#499: query parameters without values are distinct keys", async () => {
  const s = setup((clock) => (request) =>
    reply(new URL(request.url).search, { "cache-control": "max-age=600" }, { clock })
  );
  const a = await s.get(undefined, "http://127.0.0.1/table.csv?time");
  const b = await s.get(undefined, "http://127.0.0.1/table.csv?station");
  const c = await s.get(undefined, "http://127.0.0.1/table.csv?time=");
  assertEquals([a.body, b.body, b.response.fromCache], ["?time", "?station", false]);
  // `?time` and `?time=` are the same parameter list to URLSearchParams; either answer is fine, but
  // the body must be one the origin sent for that URL.
  assert(c.body === "?time" || c.body === "?time=");
  await s.session.close();
});

// requests-cache#154 / #197: JSON bodies were keyed by their serialisation (key order).
Deno.test("requests-cache#154: JSON bodies are keyed canonically, and different bodies stay apart", async () => {
  const s = setup(
    (clock) => async (request) =>
      reply(`answer to ${await request.text()}`, { "cache-control": "max-age=600" }, { clock }),
    {
      allowedMethods: ["GET", "POST"],
    },
  );
  const post = (body: string) => ({ method: "POST", body, headers: { "content-type": "application/json" } });
  const a = await s.get(post('{"q":"x","page":1}'));
  const b = await s.get(post('{"page":1,"q":"x"}'));
  const c = await s.get(post('{"page":2,"q":"x"}'));
  assertEquals(b.response.fromCache, true, "same JSON in another key order missed");
  assertEquals(b.body, a.body);
  assertEquals([c.response.fromCache, c.body], [false, 'answer to {"page":2,"q":"x"}']);
  // Objects inside arrays are keyed canonically too; an array's order is its own, and counts.
  const d = await s.get(post('{"items":[{"id":1,"n":"a"}],"q":"y"}'));
  const e = await s.get(post('{"q":"y","items":[{"n":"a","id":1}]}'));
  const f = await s.get(post('{"q":"y","items":[{"id":1,"n":"a"},{"id":2}]}'));
  const g = await s.get(post("[1,2]"));
  const h = await s.get(post("[2,1]"));
  assertEquals(
    [
      d.response.fromCache,
      e.response.fromCache,
      f.response.fromCache,
      g.response.fromCache,
      h.response.fromCache,
    ],
    [false, true, false, false, false],
  );
  assertEquals([e.body, h.body], [d.body, "answer to [2,1]"]);
  await s.session.close();
});

// requests-cache#526: a per-request expire_after=-1 fell back to the session's expire_after.
Deno.test("requests-cache#526: a request's own NEVER_EXPIRE overrides the session's expireAfter", async () => {
  const s = setup((clock) => () => reply("x", {}, { clock }), { expireAfter: 10 });
  await s.get({ expireAfter: NEVER_EXPIRE });
  s.clock.tick(10_000);
  const { response } = await s.get({ expireAfter: NEVER_EXPIRE });
  assertEquals([response.fromCache, response.expiresAt], [true, undefined as unknown as Date]);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

// requests-cache#429: with cache_control=True, Cache-Control max-age did not override
// expire_after / urls_expire_after (docs/expiration.md: the response's explicit freshness ranks
// above URL patterns and the session's expireAfter).
Deno.test("requests-cache#429: the response's max-age ranks above urlsExpireAfter and expireAfter", async (t) => {
  const cases: [string, CachedSessionOptions][] = [
    ["expireAfter", { expireAfter: 10 }],
    ["urlsExpireAfter", { urlsExpireAfter: { "127.0.0.1/*": 10 } }],
  ];
  for (const [name, options] of cases) {
    await t.step(name, async () => {
      const s = setup((clock) => () => reply("x", { "cache-control": "max-age=100" }, { clock }), options);
      await s.get();
      s.clock.tick(50);
      assertEquals((await s.get()).response.fromCache, true, "max-age=100 lost to a 10 s option");
      s.clock.tick(60);
      assertEquals((await s.get()).response.fromCache, false, "served past max-age");
      await s.session.close();
    });
  }
});

// requests-cache#1095 (user report) / #250: expire_after=0 must not serve from the cache without
// asking the origin.
Deno.test("requests-cache#1095: EXPIRE_IMMEDIATELY never serves without the origin", async () => {
  const s = setup(
    (clock) => (request, n) =>
      request.headers.get("if-none-match") === '"a"'
        ? reply(null, { etag: '"a"' }, { status: 304, clock })
        : reply(`v${n}`, { etag: '"a"' }, { clock }),
    { expireAfter: EXPIRE_IMMEDIATELY },
  );
  await s.get();
  for (let i = 0; i < 3; i++) {
    s.clock.tick(60);
    await s.get();
  }
  assertEquals(s.origin.calls, 4, "a response stored stale at once was served without revalidation");
  assertEquals(s.origin.requests.slice(1).map((r) => r.headers.get("if-none-match")), ['"a"', '"a"', '"a"']);
  await s.session.close();
});

// requests-cache#761: with stale_if_error and allowable_codes=[200, 404], a 500 was returned
// instead of the stale 200, and a 404 was not stored.
Deno.test("requests-cache#761: staleIfError with allowedCodes serves stale on 500 and stores an allowed 404", async () => {
  const s = setup((clock) => (request, n) => {
    if (new URL(request.url).pathname === "/missing") return reply("nope", {}, { status: 404, clock });
    return n === 1 ? reply("ok", {}, { clock }) : reply("boom", {}, { status: 500, clock });
  }, { staleIfError: true, expireAfter: 10, allowedCodes: [200, 404] });
  await s.get();
  s.clock.tick(30);
  const stale = await s.get();
  assertEquals([stale.response.status, stale.body, stale.response.fromCache], [200, "ok", true]);
  await s.get(undefined, "http://127.0.0.1/missing");
  const missing = await s.get(undefined, "http://127.0.0.1/missing");
  assertEquals([missing.response.status, missing.response.fromCache], [404, true], "allowed 404 not stored");
  await s.session.close();
});

// requests-cache#602: must-revalidate has to beat max-stale and stale-if-error.
Deno.test("requests-cache#602: must-revalidate is not served stale by max-stale or stale-if-error", async (t) => {
  await t.step("staleIfError and a 503", async () => {
    const s = setup(
      (clock) => (_request, n) =>
        n === 1
          ? reply("v1", { "cache-control": "max-age=1, must-revalidate" }, { clock })
          : reply("down", {}, { status: 503, clock }),
      { staleIfError: true },
    );
    await s.get();
    s.clock.tick(5);
    const { response } = await s.get();
    assertEquals([response.status, response.fromCache], [503, false]);
    await s.session.close();
  });
  await t.step("request max-stale", async () => {
    const s = setup((clock) => (_request, n) =>
      reply(`v${n}`, { "cache-control": "max-age=1, must-revalidate" }, { clock })
    );
    await s.get();
    s.clock.tick(5);
    const { response, body } = await s.get({ headers: { "cache-control": "max-stale=600" } });
    assertEquals([response.fromCache, body], [false, "v2"]);
    await s.session.close();
  });
});

// aiohttp-client-cache#236 (question, and requests-cache docs): a pattern without wildcards
// matches the URLs that start with it, query included.
Deno.test("aiohttp-client-cache#236: a urlsExpireAfter pattern matches URLs that start with it", async () => {
  const s = setup((clock) => () => reply("png", {}, { clock }), {
    urlsExpireAfter: { "127.0.0.1/v1/users/avatar": 3 * 86_400 },
  });
  const url = "http://127.0.0.1/v1/users/avatar?userIds=1&size=720x720";
  await s.get(undefined, url);
  s.clock.tick(86_400);
  assertEquals(
    (await s.get(undefined, url)).response.fromCache,
    true,
    "pattern did not match the URL's prefix",
  );
  await s.session.close();
});

// requests-cache#541 / #393: request no-cache (or max-age=0) skipped the cache instead of
// revalidating the stored response.
Deno.test("requests-cache#541: request no-cache / max-age=0 revalidate with a conditional request", async (t) => {
  for (const directive of ["no-cache", "max-age=0"]) {
    await t.step(directive, async () => {
      const s = setup((clock) => (request) =>
        request.headers.get("if-none-match") === '"a"'
          ? reply(null, { etag: '"a"', "cache-control": "max-age=600" }, { status: 304, clock })
          : reply("v1", { etag: '"a"', "cache-control": "max-age=600" }, { clock })
      );
      await s.get();
      s.clock.tick(1); // age 1 s: a max-age=0 request no longer accepts it (§5.2.1.1)
      const { response, body } = await s.get({ headers: { "cache-control": directive } });
      assertEquals(s.origin.calls, 2, "the stored response was used without the origin");
      assertEquals(s.origin.requests[1]?.headers.get("if-none-match"), '"a"', "not a conditional request");
      assertEquals([response.status, body, response.revalidated], [200, "v1", true]);
      await s.session.close();
    });
  }
});

// hishel#239: a revalidation answered by a full 200 was not stored; every request revalidated.
Deno.test("hishel#239: a full 200 answering a revalidation replaces the stored response", async () => {
  const s = setup((clock) => (_request, n) =>
    reply(`v${n}`, { etag: `"${n}"`, "cache-control": "max-age=10" }, { clock })
  );
  await s.get();
  s.clock.tick(20);
  const second = await s.get();
  assertEquals([second.body, second.response.fromCache], ["v2", false]);
  s.clock.tick(5);
  const third = await s.get();
  assertEquals([third.body, third.response.fromCache], ["v2", true], "the new 200 was not stored");
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

// hishel#391: a 404 answering a revalidation raised instead of being passed on.
Deno.test("hishel#391: a 404 answering a revalidation is passed on, and the old 200 is not served", async () => {
  const s = setup((clock) => (_request, n) =>
    n === 1
      ? reply("v1", { etag: '"a"', "cache-control": "max-age=10" }, { clock })
      : reply("gone", {}, { status: 404, clock })
  );
  await s.get();
  s.clock.tick(20);
  const second = await s.get();
  assertEquals([second.response.status, second.body], [404, "gone"]);
  const third = await s.get();
  assertEquals(third.response.status, 404, "the stale 200 came back after the origin said 404");
  await s.session.close();
});

// CacheControl#337: a HEAD response was never cached without a prior GET.
Deno.test("CacheControl#337: HEAD responses are cached on their own", async () => {
  const s = setup((clock) => () =>
    reply(null, { "cache-control": "max-age=600", "content-length": "1234" }, { clock })
  );
  await s.get({ method: "HEAD" });
  const { response } = await s.get({ method: "HEAD" });
  assertEquals([response.fromCache, response.headers.get("content-length")], [true, "1234"]);
  assertEquals(s.origin.calls, 1);
  await s.session.close();
});

// CacheControl#201/#202: `Vary: *` responses were stored though never servable (RFC 9111 §4.1).
Deno.test("CacheControl#202: a Vary: * response is neither stored nor served", async () => {
  const s = setup((clock) => (_request, n) =>
    reply(`v${n}`, { "cache-control": "max-age=600", vary: "*" }, { clock })
  );
  await s.get();
  const second = await s.get();
  assertEquals([second.response.fromCache, second.body], [false, "v2"]);
  assertEquals(await s.session.cache.count(), 0, "a Vary: * response was stored");
  await s.session.close();
});

// CacheControl PR #461: POST was not among the invalidating methods (RFC 9111 §4.4).
Deno.test("CacheControl#461: a successful POST invalidates the stored GET of its URL", async () => {
  let version = 0;
  const s = setup((clock) => (request) =>
    request.method === "POST"
      ? reply(`posted ${++version}`, {}, { status: 200, clock })
      : reply(`value=${version}`, { "cache-control": "max-age=600" }, { clock })
  );
  assertEquals((await s.get()).body, "value=0");
  assertEquals((await s.get()).response.fromCache, true);
  await s.get({ method: "POST", body: "x" });
  const after = await s.get();
  assertEquals([after.response.fromCache, after.body], [false, "value=1"]);
  await s.session.close();
});

// CacheControl#56 / PR #223: 301 and 308 were not cacheable.
Deno.test("CacheControl#56/#223: 301 and 308 with freshness are cached (redirect: manual)", async (t) => {
  for (const status of [301, 308]) {
    await t.step(String(status), async () => {
      const s = setup((clock) => () =>
        reply(null, { location: "http://127.0.0.1/new", "cache-control": "max-age=3600" }, { status, clock })
      );
      await s.get({ redirect: "manual" });
      const { response } = await s.get({ redirect: "manual" });
      assertEquals([response.status, response.fromCache], [status, true]);
      assertEquals(response.headers.get("location"), "http://127.0.0.1/new");
      await s.session.close();
    });
  }
});

// hishel#361: a 301 cached for a request with follow_redirects=False was returned to a request
// that follows redirects. A `redirect: "follow"` fetch never resolves to a 3xx with Location.
Deno.test("hishel#361: a redirect stored for redirect:'manual' is not the answer to redirect:'follow'", async () => {
  const s = setup((clock) => (request) => {
    if (request.redirect === "manual" && new URL(request.url).pathname !== "/new") {
      return reply(null, { location: "http://127.0.0.1/new", "cache-control": "max-age=3600" }, {
        status: 301,
        clock,
      });
    }
    const response = reply("the new place", { "cache-control": "max-age=3600" }, { clock });
    Object.defineProperties(response, {
      url: { value: "http://127.0.0.1/new" },
      redirected: { value: true },
    });
    return response;
  });
  const manual = await s.get({ redirect: "manual" });
  assertEquals(manual.response.status, 301);
  const followed = await s.get();
  assertEquals([followed.response.status, followed.body], [200, "the new place"], "got the stored 301");
  await s.session.close();
});

// aiohttp-client-cache#169: cached responses shared one body object; reading one emptied the others.
Deno.test("aiohttp-client-cache#169: each cached response has its own body", async () => {
  const s = setup((clock) => () => reply("hello world", { "cache-control": "max-age=600" }, { clock }));
  await s.get();
  const r1 = await s.session.fetch(URL_A);
  const r2 = await s.session.fetch(URL_A);
  const bytes = new Uint8Array(await r1.arrayBuffer());
  bytes.fill(0x58); // the caller owns what it read
  const streamed = await new Response(r2.body).text();
  assertEquals(streamed, "hello world", "reading one cached response changed another");
  const r3 = await s.session.fetch(URL_A);
  const fromBytes = await r3.bytes();
  fromBytes.fill(0x59);
  assertEquals(
    await (await s.session.fetch(URL_A)).text(),
    "hello world",
    "the caller's bytes were the store's",
  );
  await s.session.close();
});

// aiohttp-client-cache#289: CachedResponse.read() behaved unlike ClientResponse.read(). For fetch:
// a cached Response's body can be read once, like any Response.
Deno.test("aiohttp-client-cache#289: a cached Response's body reads once, as a fetched one does", async () => {
  const s = setup((clock) => () => reply("once", { "cache-control": "max-age=600" }, { clock }));
  await s.get();
  const hit = await s.session.fetch(URL_A);
  assertEquals([hit.bodyUsed, await hit.text(), hit.bodyUsed], [false, "once", true]);
  let threw = false;
  try {
    await hit.text();
  } catch (error) {
    threw = error instanceof TypeError;
  }
  assert(threw, "a second read of a cached body did not throw a TypeError");
  const cloned = (await s.session.fetch(URL_A)).clone();
  assertEquals(await cloned.text(), "once");
  await s.session.close();
});

// requests-cache PR #615 / RFC 5861 §3: stale-while-revalidate serves stale at once and stores
// the refreshed response.
Deno.test("requests-cache#615: staleWhileRevalidate serves stale at once and stores the refresh", async () => {
  const s = setup((clock) => (_request, n) => reply(`v${n}`, { "cache-control": "max-age=1" }, { clock }), {
    staleWhileRevalidate: 60,
  });
  await s.get();
  s.clock.tick(5);
  const stale = await s.get();
  assertEquals([stale.body, stale.response.fromCache], ["v1", true]);
  for (let i = 0; i < 20 && s.origin.calls < 2; i++) await settle();
  await settle();
  await settle();
  const fresh = await s.get();
  assertEquals([fresh.body, fresh.response.fromCache], ["v2", true], "the background refresh was not stored");
  assertEquals(s.origin.calls, 2);
  await s.session.close();
});

// hishel#183 (POST caching) and requests-cache#154: different form bodies must not share a key,
// while ignoredParameters in the form are left out.
Deno.test("requests-cache#273: form bodies are keyed, minus ignoredParameters", async () => {
  const s = setup(
    (clock) => async (request) =>
      reply(`form ${await request.text()}`, { "cache-control": "max-age=600" }, { clock }),
    {
      allowedMethods: ["GET", "POST"],
      ignoredParameters: ["access_token"],
    },
  );
  const post = (body: string) => ({
    method: "POST",
    body,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  await s.get(post("q=1&access_token=aaa"));
  const same = await s.get(post("access_token=bbb&q=1"));
  const other = await s.get(post("q=2&access_token=aaa"));
  assertEquals(same.response.fromCache, true, "ignored form field was part of the key");
  assertEquals(other.response.fromCache, false, "a different form body shared the key");
  await s.session.close();
});

// requests-cache PR #1149: `Vary` naming an ignored header matched any value (the stored value
// was redacted), so one API key's response answered another's. RFC 9111 §4.1: the nominated
// header values must match.
Deno.test("requests-cache#1149: Vary on an ignored header still tells its values apart", async () => {
  const s = setup(
    (clock) => (request) =>
      reply(
        `for ${request.headers.get("x-api-key")}`,
        { "cache-control": "max-age=600", vary: "x-api-key" },
        {
          clock,
        },
      ),
    { ignoredParameters: ["x-api-key"] },
  );
  const a = await s.get({ headers: { "x-api-key": "alice" } });
  const b = await s.get({ headers: { "x-api-key": "bob" } });
  assertEquals(a.body, "for alice");
  assertEquals([b.response.fromCache, b.body], [false, "for bob"], "bob got alice's response");
  for await (const { entry } of s.session.cache.entries()) {
    assert(!JSON.stringify(entry).includes("alice"), "an ignored header value was stored in clear");
  }
  await s.session.close();
});
