/**
 * No leaks between users and no secrets at rest: responses to different credentials never share
 * an entry, credentials and `ignoredParameters` never reach a backend in clear (checked in the
 * raw bytes each server or file holds), `Set-Cookie` is stored only on request, and hostile or
 * malformed `private` / `no-store` never makes a response cacheable.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { IncomingMessage } from "node:http";
import { createClient } from "@redis/client";
import { MongoClient } from "mongodb";
import fc from "fast-check";
import type { CacheBackend } from "../backends/base.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { CachedSession } from "../mod.ts";
import { type Loopback, loopback, scratch } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";
import { serviceUrl } from "./_services.ts";

const FRESH = { "cache-control": "max-age=600" };

/** Reads a request body. */
function bodyOf(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    request.setEncoding("utf8").on("data", (chunk: string) => text += chunk).on("end", () => resolve(text));
  });
}

Deno.test("security: different Authorization, Cookie or Proxy-Authorization never share an entry", async () => {
  const server = await loopback(async (request, response) => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const who = [
      request.headers.authorization,
      request.headers.cookie,
      request.headers["proxy-authorization"],
    ];
    response.writeHead(200, { "cache-control": "private, max-age=600", vary: "accept" })
      .end(JSON.stringify(who.map((value) => value ?? null)));
  });
  const session = new CachedSession();
  const users: Record<string, string>[] = [
    {},
    { authorization: "Bearer alice" },
    { authorization: "Bearer bob" },
    { authorization: "bearer alice" }, // credentials are compared byte for byte
    { cookie: "session=alice" },
    { cookie: "session=bob" },
    { cookie: "session=alice", authorization: "Bearer alice" },
    { "proxy-authorization": "Basic YWxpY2U6" },
  ];
  const expected = (headers: Record<string, string>) =>
    JSON.stringify([
      headers.authorization ?? null,
      headers.cookie ?? null,
      headers["proxy-authorization"] ?? null,
    ]);
  try {
    // All at once (so coalescing is at work), then again one by one (so hits are at work).
    const concurrent = await Promise.all(
      users.flatMap((headers) => [1, 2, 3].map(() => session.fetch(server.url, { headers }))),
    );
    const bodies = await Promise.all(concurrent.map((response) => response.text()));
    bodies.forEach((body, i) => equal(body, expected(users[Math.floor(i / 3)]!)));
    equal(server.hits, users.length, "one origin request per distinct credential");
    for (const headers of users) {
      const response = await session.fetch(server.url, { headers });
      equal([response.fromCache, await response.text()].join(), `true,${expected(headers)}`);
    }
    equal(server.hits, users.length);
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("security: a response that varies on an ignored header is not served for another value of it", async () => {
  // requests-cache#1149: the stored value was concealed, and a concealed value matched any other.
  const o = origin((request) =>
    reply(`for ${request.headers.get("x-api-key")}`, { ...FRESH, vary: "x-api-key, accept" })
  );
  const session = new CachedSession({ fetch: o.fetch, ignoredParameters: ["x-api-key"] });
  const get = async (key: string | undefined) => {
    const response = await session.fetch("http://127.0.0.1/vary", {
      headers: key === undefined ? {} : { "x-api-key": key, accept: "text/plain" },
    });
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await get("alice"), "false for alice");
    equal(await get("bob"), "false for bob");
    equal(await get(undefined), "false for null");
    equal(await get("alice"), "true for alice");
    equal(await get("bob"), "true for bob");
    equal(await get(undefined), "true for null");
    equal(o.calls, 3);
    for await (const { entry } of session.cache.entries()) {
      const text = JSON.stringify(entry.vary);
      ok(!text.includes("alice") && !text.includes("bob"), `an ignored header's value was stored: ${text}`);
    }
  } finally {
    await session.close();
  }
});

/**
 * An origin that answers with the username of the URL it is given, as one that reads
 * `Authorization: Basic` would. It reads the URL itself: Node's and Bun's `Request` refuse userinfo.
 */
function userinfoOrigin(cacheControl: string): typeof fetch {
  return ((input: RequestInfo | URL) => {
    const { username } = new URL(input instanceof Request ? input.url : String(input));
    return Promise.resolve(reply(`for ${username}`, { "cache-control": cacheControl }));
  }) as typeof fetch;
}

Deno.test("security: a URL's userinfo is a credential: users never share an entry, and it is never stored or shown", async () => {
  const backend = new MemoryBackend();
  const events: string[] = [];
  const session = new CachedSession({
    backend,
    fetch: userinfoOrigin("max-age=600"),
    onEvent: (event) => events.push(JSON.stringify(event)),
  });
  const get = async (userinfo: string) => {
    const response = await session.fetch(`http://${userinfo}127.0.0.1/private?page=1`);
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await get("alice:SECRET-PASSWORD-A@"), "false for alice");
    equal(await get("bob:SECRET-PASSWORD-B@"), "false for bob");
    equal(await get(""), "false for ");
    equal(await get("alice:SECRET-PASSWORD-A@"), "true for alice");
    equal(await get("bob:SECRET-PASSWORD-B@"), "true for bob");
    deepEqual(await session.cache.urls(), ["http://127.0.0.1/private?page=1"]);
    equal(await scanStorage(backend), 3);
    for (const event of events) {
      ok(!/SECRET|alice|bob/.test(event), `userinfo in an event: ${event}`);
    }
    // Found as `urls()` lists it, as the entries of every Authorization are.
    equal(await session.cache.count({ urls: ["http://127.0.0.1/private?page=1"] }), 3);
    await session.cache.deleteUrls(...await session.cache.urls());
    equal(await session.cache.count(), 0);
  } finally {
    await session.close();
  }
});

Deno.test("security: a shared cache stores the response to a URL with userinfo only as it would one to Authorization", async () => {
  // RFC 9111 §3.5: fetch sends userinfo as `Authorization: Basic`.
  for (const [cacheControl, stored] of [["max-age=600", false], ["public, max-age=600", true]] as const) {
    const session = new CachedSession({ fetch: userinfoOrigin(cacheControl), shared: true });
    try {
      const url = "http://alice:SECRET-PASSWORD@127.0.0.1/shared";
      await (await session.fetch(url)).text();
      equal((await session.fetch(url)).fromCache, stored, cacheControl);
    } finally {
      await session.close();
    }
  }
});

Deno.test("security: a response whose Content-Location names an ignored parameter is not stored", async () => {
  // The origin echoes the request URL, as many do: storing it would store the secret, and serve
  // it to a request with another value of the parameter (one key for both).
  const o = origin((request) => {
    const { pathname, search } = new URL(request.url);
    return reply(`for ${search}`, { ...FRESH, "content-location": pathname + search });
  });
  const backend = new MemoryBackend();
  const session = new CachedSession({ backend, fetch: o.fetch, ignoredParameters: ["api_key"] });
  const get = async (query: string) => {
    const response = await session.fetch(`http://127.0.0.1/report${query}`);
    await response.text();
    return `${response.fromCache} ${response.headers.get("content-location")}`;
  };
  try {
    equal(await get("?api_key=SECRET-KEY-A&page=1"), "false /report?api_key=SECRET-KEY-A&page=1");
    equal(await get("?api_key=SECRET-KEY-B&page=1"), "false /report?api_key=SECRET-KEY-B&page=1");
    equal(await scanStorage(backend), 0);
    // Without an ignored parameter in it, Content-Location is stored as before.
    equal(await get("?page=2"), "false /report?page=2");
    equal(await get("?page=2"), "true /report?page=2");
  } finally {
    await session.close();
  }
});

Deno.test("security: a response whose Link names an ignored parameter is not stored", async () => {
  const o = origin((request) => {
    const page = new URL(request.url).searchParams.get("page");
    const link = page === "1" ? { link: '</report?api_key=SECRET-KEY&page=2>; rel="next"' } : {};
    return reply(`page ${page}`, { ...FRESH, ...link });
  });
  const backend = new MemoryBackend();
  const session = new CachedSession({ backend, fetch: o.fetch, ignoredParameters: ["api_key"] });
  try {
    await (await session.fetch("http://127.0.0.1/report?api_key=SECRET-KEY&page=1")).text();
    equal(await scanStorage(backend), 0);
    // A Link without an ignored parameter in it is stored as before.
    await (await session.fetch("http://127.0.0.1/report?page=3")).text();
    equal((await session.fetch("http://127.0.0.1/report?page=3")).fromCache, true);
  } finally {
    await session.close();
  }
});

Deno.test("security: an ignored parameter in a Link anchor or in a fragment keeps the response unstored", async () => {
  // (Before: only the query of a Location, a Content-Location or a Link target was looked at.)
  const cases: Record<string, string>[] = [
    { link: '</other>; rel="alternate"; anchor="/report?api_key=SECRET-KEY"' },
    { location: "/report#api_key=SECRET-KEY" },
    { "content-location": "/report?page=1#state=x&api_key=SECRET-KEY" },
    { link: "</report#api_key=SECRET-KEY>; rel=self" },
  ];
  for (const fields of cases) {
    const backend = new MemoryBackend();
    const o = origin(() => reply("page", { ...FRESH, ...fields }));
    const session = new CachedSession({ backend, fetch: o.fetch, ignoredParameters: ["api_key"] });
    try {
      await (await session.fetch("http://127.0.0.1/report?api_key=SECRET-KEY")).text();
      equal(await scanStorage(backend), 0, JSON.stringify(fields));
    } finally {
      await session.close();
    }
  }
});

Deno.test("security: any two distinct credentials get distinct cache keys (property)", async () => {
  const session = new CachedSession({ fetch: () => Promise.resolve(reply("x", FRESH)) });
  const credential = fc.string({ minLength: 1, maxLength: 40 }).map((text) =>
    text.replace(/[^\x20-\x7e]/g, "a").trim()
  )
    .filter((text) => text !== "");
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("authorization", "cookie", "proxy-authorization"),
      credential,
      credential,
      async (header, a, b) => {
        fc.pre(a !== b);
        const keyOf = async (value: string) =>
          (await session.fetch("http://h.test/", { headers: { [header]: value }, cache: "no-cache" }))
            .cacheKey;
        ok(await keyOf(a) !== await keyOf(b), `${header}: ${a} / ${b}`);
      },
    ),
    { numRuns: 100 },
  );
  await session.close();
});

Deno.test("security: request bodies that differ only in a __proto__ field never share an entry", async () => {
  const o = origin(async (request) => reply(await request.text(), FRESH));
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "HEAD", "POST"] });
  const post = (user: string) =>
    session.fetch("http://h.test/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"__proto__":{"user":"${user}"},"constructor":1}`,
    });
  const [alice, bob] = [await post("alice"), await post("bob")];
  ok(alice.cacheKey !== bob.cacheKey);
  ok((await bob.text()).includes("bob"));
  equal(o.calls, 2);
  await session.close();
});

/** Every secret the requests below carry; none may be found at rest. */
const SECRETS = [
  "SECRET-AUTHORIZATION",
  "SECRET-COOKIE",
  "SECRET-PROXY",
  "SECRET-QUERY",
  "SECRET-HEADER",
  "SECRET-JSON",
  "SECRET-FORM",
  "SECRET-REDIRECT",
  "SECRET-SET-COOKIE",
];

/** Sends requests that carry every kind of secret through a session over `backend`. */
async function storeSecrets(backend: CacheBackend, server: Loopback): Promise<void> {
  const session = new CachedSession({
    backend,
    allowedMethods: ["GET", "HEAD", "POST"],
    ignoredParameters: ["api_key", "x-api-key", "token"],
    matchHeaders: ["x-api-key", "accept"],
  });
  const credentials = {
    authorization: "Bearer SECRET-AUTHORIZATION",
    cookie: "session=SECRET-COOKIE",
    "proxy-authorization": "Basic SECRET-PROXY",
    "x-api-key": "SECRET-HEADER",
  };
  const calls: [string, RequestInit][] = [
    [`${server.url}/data?api_key=SECRET-QUERY&page=1`, { headers: credentials }],
    [`${server.url}/redirect`, { headers: credentials }],
    [`${server.url}/json`, {
      method: "POST",
      headers: { ...credentials, "content-type": "application/json" },
      body: JSON.stringify({ query: "q", token: "SECRET-JSON" }),
    }],
    [`${server.url}/form`, {
      method: "POST",
      headers: { ...credentials, "content-type": "application/x-www-form-urlencoded" },
      body: "query=q&token=SECRET-FORM",
    }],
  ];
  try {
    for (const [url, init] of calls) {
      const response = await session.fetch(url, init);
      await response.text(); // once the body has ended, the entry is in the backend
      equal(response.status, 200, url);
    }
    for (const [url, init] of calls) {
      equal((await session.fetch(url, init)).fromCache, true, `${url} was stored`);
    }
  } finally {
    await session.close();
  }
}

function secretOrigin(): Promise<Loopback> {
  return loopback(async (request, response) => {
    await bodyOf(request);
    if (request.url === "/redirect") {
      // Fresh for a minute, but its Location holds an ignored parameter: not stored.
      return void response.writeHead(301, { ...FRESH, location: "/landing?api_key=SECRET-REDIRECT&page=2" })
        .end();
    }
    response.writeHead(200, {
      ...FRESH,
      vary: "authorization, cookie, x-api-key, accept",
      "set-cookie": "id=SECRET-SET-COOKIE; HttpOnly",
    }).end("public data");
  });
}

/** Fails if any secret appears in `bytes` (as UTF-8 / Latin-1 text). */
function assertClean(bytes: Uint8Array, where: string): void {
  const text = new TextDecoder("latin1").decode(bytes);
  for (const secret of SECRETS) ok(!text.includes(secret), `${secret} found in ${where}`);
  ok(!text.includes("SECRET"), `a secret found in ${where}`);
}

/** Every record a storage holds, keys included, as the storage hands them out. */
async function scanStorage(backend: CacheBackend): Promise<number> {
  let records = 0;
  for await (const key of backend.storage.keys()) {
    assertClean(new TextEncoder().encode(key), `key ${key}`);
    const bytes = await backend.storage.get(key);
    if (bytes !== undefined) assertClean(bytes, `record ${key}`);
    records++;
  }
  return records;
}

function fileBytes(path: string): Uint8Array {
  const parts = [path, `${path}-wal`, `${path}-journal`].filter(existsSync).map((file) => readFileSync(file));
  return new Uint8Array(Buffer.concat(parts));
}

const redis = serviceUrl("REDIS_URL");
const mongodb = serviceUrl("MONGODB_URL");

Deno.test("security: credentials and ignoredParameters never reach a backend in clear (raw bytes)", async (t) => {
  const server = await secretOrigin();
  try {
    await t.step("memory", async () => {
      const backend = new MemoryBackend();
      await storeSecrets(backend, server);
      ok(await scanStorage(backend) >= 4);
    });

    await t.step("sqlite: the database file on disk", async () => {
      const path = join(scratch, "secrets.db");
      const backend = new SQLiteBackend({ path });
      await storeSecrets(backend, server);
      ok(await scanStorage(backend) >= 4);
      await backend.close();
      const bytes = fileBytes(path);
      ok(new TextDecoder("latin1").decode(bytes).includes("public data"), "the file holds the responses");
      assertClean(bytes, path);
    });

    await t.step({
      name: "deno-kv: the database file on disk",
      ignore: !process.versions.deno,
      async fn() {
        const { DenoKVBackend } = await import("../backends/deno_kv.ts");
        const path = join(scratch, "secrets.kv");
        const backend = new DenoKVBackend({ path });
        await storeSecrets(backend, server);
        ok(await scanStorage(backend) >= 4);
        await backend.close();
        assertClean(fileBytes(path), path);
      },
    });

    await t.step({
      name: "redis: every key and value under the prefix, read with a raw client",
      ignore: redis.skip !== undefined,
      async fn() {
        const prefix = `http-cache-test:${crypto.randomUUID()}:v1:`;
        const backend = new RedisBackend({ url: redis.url!, prefix });
        const raw = await createClient({ url: redis.url! }).connect();
        try {
          await storeSecrets(backend, server);
          const keys = await raw.keys(`${prefix}*`);
          ok(keys.length >= 4);
          for (const key of keys) {
            assertClean(new TextEncoder().encode(key), key);
            const value = await raw.sendCommand(["GET", key], { typeMapping: { 36: Buffer } }) as Buffer;
            assertClean(new Uint8Array(value), key);
          }
        } finally {
          const keys = await raw.keys(`${prefix}*`);
          if (keys.length > 0) await raw.del(keys);
          raw.destroy();
        }
      },
    });

    await t.step({
      name: "mongodb: every document of the collection, read with a raw client",
      ignore: mongodb.skip !== undefined,
      async fn() {
        const collection = `secrets_${crypto.randomUUID().slice(0, 8)}_v1`;
        const backend = new MongoDBBackend({ url: mongodb.url!, db: "http_cache_test", collection });
        const client = await new MongoClient(mongodb.url!).connect();
        try {
          await storeSecrets(backend, server);
          const documents = await client.db("http_cache_test").collection(collection).find().toArray();
          ok(documents.length >= 4);
          for (const document of documents) {
            assertClean(new TextEncoder().encode(String(document._id)), `_id ${document._id}`);
            assertClean(document.value.value(), `document ${document._id}`);
          }
        } finally {
          await client.db("http_cache_test").collection(collection).drop().catch(() => {});
          await client.close();
        }
      },
    });
  } finally {
    await server.close();
  }
});

Deno.test("security: Set-Cookie is stored only with storeSetCookie, also through a revalidation", async () => {
  for (const storeSetCookie of [false, true]) {
    const o = origin((request, n) =>
      n > 1 && request.headers.get("if-none-match") === '"v1"'
        ? reply(null, { etag: '"v1"', "set-cookie": "b=SECRET-2" }, { status: 304 })
        : reply("body", { "cache-control": "max-age=0", etag: '"v1"', "set-cookie": "a=SECRET-1" })
    );
    const backend = new MemoryBackend();
    const session = new CachedSession({ fetch: o.fetch, backend, storeSetCookie });
    const first = await session.fetch("http://h.test/");
    equal(first.headers.get("set-cookie"), "a=SECRET-1", "the network response reaches its caller whole");
    await first.text();
    const revalidated = await session.fetch("http://h.test/");
    equal(revalidated.revalidated, true);
    // RFC 9111 §3.2: the 304's fields replace the stored ones of the same name. Its cookie is the
    // answer to this request: it reaches this caller, stored or not (as from fetch).
    equal(revalidated.headers.get("set-cookie"), "b=SECRET-2");
    if (!storeSetCookie) equal(await scanStorage(backend), 1);
    await session.close();
  }
});

/** Spellings of `no-store` that a sloppy or hostile origin might send; each must forbid storing. */
const NO_STORE = [
  "no-store",
  "NO-STORE",
  "No-Store",
  " no-store ",
  "\tno-store",
  "no-store=",
  "no-store=1",
  'no-store="',
  'no-store="x", max-age=600',
  "max-age=600, no-store",
  "max-age=600,no-store",
  "max-age=600,,no-store",
  "public, max-age=600, no-store, immutable",
  'private="set-cookie, max-age=600", no-store',
  '"no-store", max-age=600',
  "no-store;, max-age=600",
  "no-store garbage, max-age=600",
  "max-age=600 no-store",
  "max-age=600; no-store",
];

/** Spellings of an unqualified `private`: a shared cache must not store them. */
const PRIVATE = [
  "private, max-age=600",
  "PRIVATE, max-age=600",
  "max-age=600, private",
  "private=, max-age=600",
  "private=set-cookie, max-age=600", // unquoted: not a valid qualified form, read as unqualified
  'private="", max-age=600',
  'private=", max-age=600',
  'private = "x", max-age=600',
  "public, private, max-age=600",
  '"private", max-age=600',
  "private;, max-age=600",
  "private garbage, max-age=600",
  "max-age=600;private",
];

Deno.test("security: malformed no-store and private never become cacheable", async (t) => {
  const cases: [string, string[], boolean][] = [["no-store", NO_STORE, false], [
    "private (shared cache)",
    PRIVATE,
    true,
  ]];
  for (const [name, values, shared] of cases) {
    await t.step(name, async () => {
      for (const value of values) {
        const headers = new Headers({ ...FRESH });
        for (const line of value.split("\n")) headers.append("cache-control", line);
        const o = origin(() => new Response("x", { headers }));
        const session = new CachedSession({ fetch: o.fetch, shared });
        await (await session.fetch("http://h.test/")).text();
        const second = await session.fetch("http://h.test/");
        await second.text();
        equal(second.fromCache, false, `${JSON.stringify(value)} was served from the cache`);
        equal(await session.cache.count(), 0, `${JSON.stringify(value)} was stored`);
        await session.close();
      }
    });
  }
  await t.step("no-store on its own field line, beside a max-age line", async () => {
    const headers = new Headers();
    headers.append("cache-control", "max-age=600");
    headers.append("cache-control", "no-store");
    const session = new CachedSession({ fetch: () => Promise.resolve(new Response("x", { headers })) });
    await (await session.fetch("http://h.test/")).text();
    equal(await session.cache.count(), 0);
    await session.close();
  });
});

/** Header values that a Headers object accepts, chosen to hurt a parser. */
const hostileValue = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({
    unit: fc.constantFrom(...'",=;\\ \t*WGMT/-0123456789abcdefmaxgnostreprivatWw'),
    maxLength: 60,
  }),
  fc.constantFrom(
    "",
    ",",
    "=",
    '"',
    "\\",
    "*",
    "W/",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "0x10",
    "99999999999999999999",
  ),
).map((text) => text.replace(/[\0\r\n]/g, " "));

Deno.test("security: hostile caching headers never make fetch throw (property)", async () => {
  const names = [
    "cache-control",
    "expires",
    "date",
    "age",
    "vary",
    "etag",
    "last-modified",
    "pragma",
    "content-length",
  ];
  await fc.assert(
    fc.asyncProperty(fc.dictionary(fc.constantFrom(...names), hostileValue), async (fields) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(fields)) {
        if (name === "content-length") continue; // the body decides it
        try {
          headers.set(name, value);
        } catch {
          return; // not a header value at all: no origin can send it
        }
      }
      const o = origin(() => new Response("payload", { headers }));
      const session = new CachedSession({ fetch: o.fetch, now: () => 1_700_000_000_000 });
      for (let i = 0; i < 2; i++) {
        const response = await session.fetch("http://h.test/", {
          headers: { "cache-control": fields.pragma ?? "" },
        });
        equal(await response.text(), "payload");
      }
      await session.close();
    }),
    { numRuns: 300 },
  );
});

Deno.test("security: a 304 that adds Vary on a user's header makes the entry vary on it: no other user gets that body", async () => {
  // The origin's first 200 lacked Vary; from then on it varies on x-user, each user's
  // representation with its own entity tag. Its 304 to alice names x-user.
  const o = origin((request, n) => {
    const user = request.headers.get("x-user");
    const etag = `"${user}"`;
    if (request.headers.get("if-none-match") === etag) {
      return reply(null, { etag, "cache-control": "max-age=600", vary: "x-user" }, { status: 304 });
    }
    const vary: Record<string, string> = n === 1 ? {} : { vary: "x-user" };
    return reply(`for ${user}`, { etag, "cache-control": n === 1 ? "max-age=0" : "max-age=600", ...vary });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const get = async (user: string) =>
    await (await session.fetch("http://h.test/p", { headers: { "x-user": user } })).text();
  try {
    equal(await get("alice"), "for alice");
    equal(await get("alice"), "for alice"); // revalidated: the 304 says Vary: x-user
    equal(await get("bob"), "for bob", "alice's response was served to another x-user");
    equal(await get("alice"), "for alice");
  } finally {
    await session.close();
  }
});
