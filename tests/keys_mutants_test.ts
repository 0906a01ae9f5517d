/**
 * Keys, redirects and invalidations, checked where mutation testing found that no other test
 * would fail: each test names the behaviour it holds, and the RFC section or documentation page
 * that asks for it.
 */
import { assertEquals, assertRejects } from "./_assert.ts";
import { until } from "./_fixtures.ts";
import { reached, reply } from "./_origin.ts";
import { scripted as setup, URL_A } from "./_scripted.ts";
import { CachedSession, createCacheKey } from "../mod.ts";

const ORIGIN = "http://127.0.0.1";

/**
 * A fetch that answers with the userinfo of the URL it is given, as an origin that reads
 * `Authorization: Basic` would, and counts its calls. It reads the URL itself: Node's and Bun's
 * `Request` refuse userinfo.
 */
function userinfoOrigin(): { fetch: typeof globalThis.fetch; calls: () => number } {
  let calls = 0;
  const fetch: typeof globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    calls++;
    const { username, password } = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const body = method === "GET" ? `for ${username}:${password}` : "posted";
    return Promise.resolve(reply(body, { "cache-control": "max-age=600" }));
  }) as typeof fetch;
  return { fetch, calls: () => calls };
}

// docs/cache-keys.md, "Credentials": the URL's userinfo is a credential, the password as much as the
// username; two users never share an entry.
Deno.test("keys: users of one name with different passwords in the URL never share an entry", async () => {
  const o = userinfoOrigin();
  const session = new CachedSession({ fetch: o.fetch });
  const get = async (userinfo: string) => {
    const response = await session.fetch(`http://${userinfo}127.0.0.1/private`);
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    assertEquals(await get("alice:first@"), "false for alice:first");
    assertEquals(await get("alice:second@"), "false for alice:second");
    assertEquals(await get("alice:first@"), "true for alice:first");
    assertEquals(o.calls(), 2);
  } finally {
    await session.close();
  }
});

// docs/cache-keys.md: userinfo is kept in the key's credentials only, so "invalidating that URL
// reaches it"; RFC 9111 §4.4 (the target URI of an HTTP request has no userinfo, RFC 9110 §4.2.4).
Deno.test("invalidation: an unsafe request to a URL reaches the entry stored for it with a password-only userinfo", async () => {
  const o = userinfoOrigin();
  const session = new CachedSession({ fetch: o.fetch });
  const get = async () => {
    const response = await session.fetch("http://:secret@127.0.0.1/private");
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    assertEquals(await get(), "false for :secret");
    assertEquals(await get(), "true for :secret");
    await (await session.fetch("http://127.0.0.1/private", { method: "POST", body: "x" })).text();
    assertEquals(await get(), "false for :secret");
  } finally {
    await session.close();
  }
});

// Fetch standard §4.4 (HTTP-redirect fetch): Authorization is removed when the redirect goes to
// another *origin*, and a change of scheme alone is one (docs/http-semantics.md, "Redirects").
Deno.test("redirects: credentials do not follow a redirect from http to https on the same host", async () => {
  const s = setup((clock) => (request) =>
    request.url.startsWith("http://127.0.0.1/")
      ? reply(null, { location: "https://127.0.0.1/resource" }, { status: 307, clock })
      : reply(`auth ${request.headers.get("authorization")}, cookie ${request.headers.get("cookie")}`, {}, {
        clock,
      })
  );
  try {
    const response = await s.session.fetch(`${ORIGIN}/resource`, {
      headers: { authorization: "Bearer alice", cookie: "id=alice" },
    });
    assertEquals(await response.text(), "auth null, cookie null");
    assertEquals(s.origin.requests[0]!.headers.get("authorization"), "Bearer alice");
  } finally {
    await s.session.close();
  }
});

// docs/cache-keys.md, "Credentials" (two users never share an entry), and docs/http-semantics.md
// on aliases: the alias from where a redirect led is keyed as a request to that URL by the same user.
Deno.test("redirects: what a user's request reached through a redirect is never served to a request without credentials", async () => {
  const s = setup((clock) => (request) => {
    const path = new URL(request.url).pathname;
    const body = `${path} for ${request.headers.get("authorization")}`;
    const response = reply(body, { "cache-control": "max-age=600" }, { clock });
    // A fetch that follows redirects itself: /old leads to /new.
    return path === "/old"
      ? reached(
        reply(`/new for ${request.headers.get("authorization")}`, {
          "cache-control": "max-age=600",
        }, { clock }),
        "/new",
      )
      : response;
  });
  try {
    const alice = { headers: { authorization: "Bearer alice" } };
    assertEquals((await s.get(alice, `${ORIGIN}/old`)).body, "/new for Bearer alice");
    const anonymous = await s.get(undefined, `${ORIGIN}/new`);
    assertEquals([anonymous.body, anonymous.response.fromCache], ["/new for null", false]);
    const again = await s.get(alice, `${ORIGIN}/old`);
    assertEquals([again.body, again.response.fromCache], ["/new for Bearer alice", true]);
  } finally {
    await s.session.close();
  }
});

// RFC 9111 §4.1: a header field absent from a request matches only where it is absent too, so an
// empty value and no value at all select different stored responses, and both are kept.
Deno.test("vary: a request without a nominated header and one with it empty each keep their stored response", async () => {
  const s = setup((clock) => (request) => {
    const mode = request.headers.get("x-mode");
    return reply(mode === null ? "absent" : `mode "${mode}"`, {
      "cache-control": "max-age=600",
      vary: "x-mode",
    }, {
      clock,
    });
  });
  const get = async (mode: string | undefined) => {
    const { body, response } = await s.get(mode === undefined ? undefined : { headers: { "x-mode": mode } });
    return `${body} ${response.fromCache}`;
  };
  try {
    assertEquals(await get("a"), 'mode "a" false');
    assertEquals(await get(undefined), "absent false");
    assertEquals(await get(""), 'mode "" false');
    assertEquals(await get(undefined), "absent true");
    assertEquals(await get(""), 'mode "" true');
    assertEquals(s.origin.calls, 3);
  } finally {
    await s.session.close();
  }
});

// Fetch standard §4.4 (HTTP-redirect fetch): a Location without a fragment takes the fragment of
// the URL that was redirected; docs/http-semantics.md, "Redirects": followed as fetch follows them.
Deno.test("redirects: a Location without a fragment keeps the fragment of the URL asked for, one with a fragment its own", async () => {
  const cases: [string, string][] = [["/new", "/new#part-2"], ["/new#own", "/new#own"]];
  for (const [location, reached] of cases) {
    const s = setup((clock) => (request) =>
      new URL(request.url).pathname === "/old"
        ? reply(null, { location }, { status: 301, clock })
        : reply("new", {}, { clock })
    );
    try {
      await s.get(undefined, `${ORIGIN}/old#part-2`);
      assertEquals(s.origin.requests.map((request) => request.url), [
        `${ORIGIN}/old#part-2`,
        `${ORIGIN}${reached}`,
      ]);
    } finally {
      await s.session.close();
    }
  }
});

// Fetch standard §4.4 (HTTP-redirect fetch): a Location whose scheme is not HTTP(S) is a network
// error; nothing is asked of it (docs/http-semantics.md, "Redirects").
Deno.test("redirects: a redirect to a URL that is not HTTP(S) fails, and that URL is never fetched", async () => {
  const s = setup((clock) => (request) =>
    request.url.startsWith("http:")
      ? reply(null, { location: "ftp://127.0.0.1/file" }, { status: 302, clock })
      : reply("fetched", {}, { clock })
  );
  try {
    await assertRejects(() => s.get(), TypeError, "ftp:");
    assertEquals(s.origin.requests.map((request) => request.url), [URL_A]);
  } finally {
    await s.session.close();
  }
});

// Fetch standard §2.2.6 ("redirect status": 301, 302, 303, 307 and 308) and §4.4; docs/http-semantics.md,
// "Redirects": the session follows the redirects of a GET itself.
Deno.test("redirects: each redirect status is followed, 308 included", async () => {
  for (const status of [301, 302, 303, 307, 308]) {
    const s = setup((clock) => (request) =>
      new URL(request.url).pathname === "/old"
        ? reply(null, { location: "/new" }, { status, clock })
        : reply("new", {}, { clock })
    );
    try {
      const { response, body } = await s.get(undefined, `${ORIGIN}/old`);
      assertEquals([response.status, body, response.url, response.redirected], [
        200,
        "new",
        `${ORIGIN}/new`,
        true,
      ], `${status}`);
    } finally {
      await s.session.close();
    }
  }
});

// docs/cache-keys.md: `ignoredParameters` are a session's own; a session that does not ignore a
// parameter keys URLs that differ in it apart, whatever another session in the process ignores.
Deno.test("keys: a parameter another session ignores still tells URLs apart in a session that does not", async () => {
  const script = () => (request: Request) =>
    reply(`for ${new URL(request.url).search}`, { "cache-control": "max-age=600" });
  const ignoring = setup(script, { ignoredParameters: ["user"] });
  const keeping = setup(script);
  try {
    // Used again and again, as a session's hot URLs are.
    for (let i = 0; i < 8; i++) {
      for (const user of ["alice", "bob"]) await ignoring.get(undefined, `${ORIGIN}/page?user=${user}`);
    }
    assertEquals(ignoring.origin.calls, 1);
    const alice = await keeping.get(undefined, `${ORIGIN}/page?user=alice`);
    const bob = await keeping.get(undefined, `${ORIGIN}/page?user=bob`);
    assertEquals([alice.body, bob.body, bob.response.fromCache], ["for ?user=alice", "for ?user=bob", false]);
  } finally {
    await ignoring.session.close();
    await keeping.session.close();
  }
});

// RFC 9111 §4.4: only a non-error status to an unsafe method invalidates; 400 is the first error
// status (RFC 9110 §15.5).
Deno.test("invalidation: an unsafe request answered 400 invalidates nothing, one answered 399 does", async () => {
  let status = 400;
  let version = 1;
  const s = setup((clock) => (request) =>
    request.method === "POST"
      ? reply("posted", {}, { status, clock })
      : reply(`v${version++}`, { "cache-control": "max-age=600" }, { clock })
  );
  const post = async () => await (await s.session.fetch(URL_A, { method: "POST", body: "x" })).text();
  try {
    assertEquals((await s.get()).body, "v1");
    await post();
    assertEquals([(await s.get()).body, s.origin.calls], ["v1", 2]);
    status = 399;
    await post();
    assertEquals([(await s.get()).body, s.origin.calls], ["v2", 4]);
  } finally {
    await s.session.close();
  }
});

// RFC 9111 §4.4: a Location or Content-Location is a URI reference, resolved against the URL the
// response came from: where `fetch` followed the unsafe request's redirect to, not the target.
Deno.test("invalidation: a relative Location is resolved against the URL an unsafe request's redirect reached", async () => {
  let version = 1;
  const s = setup((clock) => (request) => {
    if (request.method === "POST") {
      version++;
      return reached(reply("posted", { location: "item" }, { clock }), "/archive/list");
    }
    return reply(`${new URL(request.url).pathname} v${version}`, { "cache-control": "max-age=600" }, {
      clock,
    });
  });
  try {
    await s.get(undefined, `${ORIGIN}/archive/item`);
    await s.get(undefined, `${ORIGIN}/inbox/item`);
    await (await s.session.fetch(`${ORIGIN}/inbox/new`, { method: "POST", body: "x" })).text();
    const archived = await s.get(undefined, `${ORIGIN}/archive/item`);
    assertEquals([archived.body, archived.response.fromCache], ["/archive/item v2", false]);
    const inbox = await s.get(undefined, `${ORIGIN}/inbox/item`);
    assertEquals([inbox.body, inbox.response.fromCache], ["/inbox/item v1", true]);
  } finally {
    await s.session.close();
  }
});

// RFC 9110 §9.2.1 (OPTIONS is safe) and RFC 9111 §4.4 (only unsafe methods invalidate).
Deno.test("invalidation: an OPTIONS request invalidates nothing", async () => {
  let version = 1;
  const s = setup((clock) => (request) =>
    request.method === "OPTIONS"
      ? reply(null, { allow: "GET, OPTIONS", location: URL_A, "content-location": URL_A }, { clock })
      : reply(`v${version++}`, { "cache-control": "max-age=600" }, { clock })
  );
  try {
    assertEquals((await s.get()).body, "v1");
    await (await s.session.fetch(URL_A, { method: "OPTIONS" })).text();
    const { response, body } = await s.get();
    assertEquals([body, response.fromCache], ["v1", true]);
  } finally {
    await s.session.close();
  }
});

// docs/inspection.md, events: `evict` tells that "the session removed entries"; an invalidation
// where nothing was stored removed none (RFC 9111 §4.4 invalidates what is stored).
Deno.test("invalidation: an evict event tells of the entries an unsafe request removed, and none where none was stored", async () => {
  const events: string[] = [];
  const s = setup(
    (clock) => (request) => reply(request.method, { "cache-control": "max-age=600" }, { clock }),
    {
      onEvent: (event) => {
        if (event.type === "evict") events.push(`${event.reason} ${event.target}`);
      },
    },
  );
  const post = async (url: string) =>
    await (await s.session.fetch(url, { method: "POST", body: "x" })).text();
  try {
    await post(`${ORIGIN}/empty`);
    assertEquals(events, []);
    await s.get(undefined, `${ORIGIN}/stored`);
    await post(`${ORIGIN}/stored`);
    assertEquals(events, [`invalidated ${ORIGIN}/stored`]);
  } finally {
    await s.session.close();
  }
});

// RFC 9111 §4.4 and docs/inspection.md ("a response that was asked for before it is not stored
// after it"): what `fetch` reached through a redirect belongs to where it led as well, so an
// invalidation of that URL while the response is on its way keeps it out of the store.
Deno.test("invalidation: a response that fetch reached through a redirect is not stored after an invalidation of where it led", async () => {
  const { promise: gate, resolve: release } = Promise.withResolvers<void>();
  const s = setup((clock) => async (request) => {
    if (request.method === "POST") return reply("posted", {}, { clock });
    await gate;
    return reached(reply("new", { "cache-control": "max-age=600" }, { clock }), "/new");
  });
  try {
    const pending = s.get(undefined, `${ORIGIN}/old`);
    await until(() => s.origin.calls === 1);
    await (await s.session.fetch(`${ORIGIN}/new`, { method: "POST", body: "x" })).text();
    release();
    assertEquals((await pending).body, "new");
    // Neither the entry nor the alias from /new to it (size() counts both).
    assertEquals([await s.session.cache.urls(), await s.session.cache.size()], [[], 0]);
  } finally {
    await s.session.close();
  }
});

// docs/cache-keys.md: "A key never merges two requests that an origin could tell apart by their
// bytes": a matched header sent empty is not one left out.
Deno.test("keys: a matched header sent empty and one not sent get entries of their own", async () => {
  const s = setup((clock) => (request) => {
    const tenant = request.headers.get("x-tenant");
    return reply(tenant === null ? "no tenant" : `tenant "${tenant}"`, { "cache-control": "max-age=600" }, {
      clock,
    });
  }, { matchHeaders: ["x-tenant"] });
  try {
    assertEquals((await s.get()).body, "no tenant");
    const empty = await s.get({ headers: { "x-tenant": "" } });
    assertEquals([empty.body, empty.response.fromCache], ['tenant ""', false]);
  } finally {
    await s.session.close();
  }
});

// docs/cache-keys.md, "Body": `ignoredParameters` are removed from top-level JSON fields only; a
// nested field of that name is part of what the origin reads, and of the key.
Deno.test("keys: an ignored parameter is left out of a JSON body at its top level only", async () => {
  const s = setup(
    (clock) => async (request) =>
      reply(`for ${await request.text()}`, { "cache-control": "max-age=600" }, { clock }),
    {
      allowedMethods: ["GET", "POST"],
      ignoredParameters: ["token"],
    },
  );
  const post = async (body: unknown) => {
    const response = await s.session.fetch(URL_A, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    assertEquals(await post({ q: { token: "a" }, token: "1" }), 'false for {"q":{"token":"a"},"token":"1"}');
    assertEquals(await post({ q: { token: "a" }, token: "2" }), 'true for {"q":{"token":"a"},"token":"1"}');
    assertEquals(await post({ q: { token: "b" }, token: "1" }), 'false for {"q":{"token":"b"},"token":"1"}');
  } finally {
    await s.session.close();
  }
});

// docs/cache-keys.md, "Body": a JSON body is canonicalised, and a `+json` type (RFC 6839 §3.1) is
// JSON: bodies that differ only in key order and whitespace share an entry.
Deno.test("keys: a body of a +json type is keyed as JSON", async () => {
  const s = setup(
    (clock) => async (request) =>
      reply(`for ${await request.text()}`, { "cache-control": "max-age=600" }, { clock }),
    {
      allowedMethods: ["GET", "POST"],
    },
  );
  const post = async (body: string) => {
    const response = await s.session.fetch(URL_A, {
      method: "POST",
      headers: { "content-type": "application/vnd.api+json" },
      body,
    });
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    assertEquals(await post('{"a":1,"b":2}'), 'false for {"a":1,"b":2}');
    assertEquals(await post('{ "b": 2, "a": 1 }'), 'true for {"a":1,"b":2}');
  } finally {
    await s.session.close();
  }
});

// docs/cache-keys.md: a parameter's name is decoded only to match `ignoredParameters`, as an origin
// decodes it: in `??api%5Fkey=1` the name is `?api_key`, which is not `api_key`.
Deno.test("keys: a query parameter whose name starts with '?' is not taken for an ignored one", async () => {
  const options = { ignoredParameters: new Set(["api_key"]), matchHeaders: [] };
  const key = (url: string) =>
    createCacheKey({ method: "GET", url: new URL(url), headers: new Headers() }, options);
  assertEquals(await key(`${ORIGIN}/a?api%5Fkey=1`), await key(`${ORIGIN}/a?api%5Fkey=2`));
  assertEquals((await key(`${ORIGIN}/a??api%5Fkey=1`)) === (await key(`${ORIGIN}/a??api%5Fkey=2`)), false);
});

// docs/cache-keys.md, "Secrets": only the ignored parameters are removed from the stored URL; the
// rest of it stays as written (`/p?` is a URL of its own, RFC 3986 §6.2.3).
Deno.test("inspection: a URL with an empty query is stored as written by a session with ignored parameters", async () => {
  const s = setup((clock) => () => reply("p", { "cache-control": "max-age=600" }, { clock }), {
    ignoredParameters: ["api_key"],
  });
  try {
    await s.get(undefined, `${ORIGIN}/p?`);
    assertEquals(await s.session.cache.urls(), [`${ORIGIN}/p?`]);
  } finally {
    await s.session.close();
  }
});

// docs/cache-keys.md, "Secrets": ignored parameters are removed from everything stored or shown.
Deno.test("invalidation: an evict event names the invalidated URL, and the request, without their ignored parameters", async () => {
  const events: string[] = [];
  const s = setup((clock) => () => reply("items", { "cache-control": "max-age=600" }, { clock }), {
    ignoredParameters: ["api_key"],
    onEvent: (event) => events.push(JSON.stringify(event)),
  });
  try {
    await s.get(undefined, `${ORIGIN}/items?api_key=SECRET`);
    await (await s.session.fetch(`${ORIGIN}/items?api_key=SECRET`, {
      method: "POST",
      body: "x",
    }))
      .text();
    const evicted = events.filter((event) => event.includes('"evict"'));
    assertEquals(evicted.length, 1);
    assertEquals([events.some((event) => event.includes("SECRET"))], [false]);
  } finally {
    await s.session.close();
  }
});

// docs/cache-keys.md, "Credentials": two users never share an entry, a request with a body included
// (a session that stores POST responses keys each by its body and its credentials).
Deno.test("keys: users who send the same body never share an entry", async () => {
  const s = setup(
    (clock) => (request) =>
      reply(`for ${request.headers.get("authorization")}`, { "cache-control": "max-age=600" }, { clock }),
    { allowedMethods: ["GET", "POST"] },
  );
  const post = async (user: string) => {
    const response = await s.session.fetch(URL_A, {
      method: "POST",
      body: "query",
      headers: { authorization: user },
    });
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    assertEquals(await post("Bearer alice"), "false for Bearer alice");
    assertEquals(await post("Bearer bob"), "false for Bearer bob");
    assertEquals(await post("Bearer alice"), "true for Bearer alice");
  } finally {
    await s.session.close();
  }
});
