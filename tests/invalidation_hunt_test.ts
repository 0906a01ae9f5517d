/**
 * Invalidation (RFC 9111 §4.4) at its edges: what an unsafe request takes out of the cache for
 * every kind of entry a backend may hold (variants, aliases, `HEAD` entries, other sessions'
 * keys, `keyFn`'s keys, stored `POST` answers), the forms a `Location` may name a URL in, and what
 * holds when the storage fails during an invalidation or a write is on its way.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";
import { Clock, origin, reached, reply } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";
import { BACKENDS, dispose, Switched, until } from "./_fixtures.ts";

const ORIGIN = "http://127.0.0.1";

/** A `keyFn` as docs/cache-keys.md shows it: the default key, then the tenant (which may hold a dot). */
const byTenant: CachedSessionOptions["keyFn"] = async (request, defaultKey) =>
  `${await defaultKey()}:${encodeURIComponent(request.headers.get("x-tenant") ?? "acme.example")}`;

/** Fetches through a session, reads the body, and tells where it came from and what it was. */
async function seen(session: CachedSession, url: string, init?: RequestInit): Promise<string> {
  const response = await session.fetch(url, init);
  return `${response.fromCache} ${await response.text()}`;
}

// docs/reliability.md: "a delete that fails is remembered ...: until a delete of that URL succeeds,
// a read that finds one of its records ... is a miss that tries the delete again". A key that
// `keyFn` built on the default key (`<default key>:<tenant>`, which docs/cache-keys.md says
// invalidations still find) was not known as one of the URL's records: the entry was served.
Deno.test("invalidation hunt: a keyFn entry that a failed invalidation should have removed is not served once the storage is back", async () => {
  let version = 1;
  const o = origin((request) =>
    request.method === "POST"
      ? reply(`v${++version}`)
      : reply(`v${version}`, { "cache-control": "max-age=600" })
  );
  const storage = new Switched(new MemoryStorage());
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    keyFn: byTenant,
    onError: () => {},
  });
  try {
    assertEquals(await seen(session, URL_A), "false v1");
    assertEquals(await seen(session, URL_A), "true v1");
    storage.down = true;
    assertEquals(await seen(session, URL_A, { method: "POST", body: "change" }), "false v2");
    storage.down = false;
    assertEquals(await seen(session, URL_A), "false v2");
    assertEquals(await seen(session, URL_A), "true v2");
  } finally {
    await session.close();
  }
});

// docs/inspection.md: "delete(...keys) invalidates the URLs of those keys" and a response asked for
// before is not stored after it. With a key `keyFn` built on the default key, the invalidation
// named no URL the write was checked by: the response on its way was stored after the delete.
Deno.test("invalidation hunt: cache.delete(key) of a keyFn key keeps a response asked for before it from being stored after", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const s = scripted((clock) => async (_request, n) => {
    if (n === 2) await held; // answers after the delete
    return reply(`v${n}`, { "cache-control": "max-age=600" }, { clock });
  }, { keyFn: byTenant });
  try {
    const { response } = await s.get();
    const key = response.cacheKey!;
    const later = s.get({ cache: "reload" });
    await until(() => s.origin.calls === 2);
    await s.session.cache.delete(key);
    release();
    await later;
    await s.session.close(); // waits for the write
    assertEquals(await s.session.cache.get(key), undefined);
  } finally {
    await s.session.close();
  }
});

// src/redirects.ts reads the bytes of a Location that are not ASCII as UTF-8, as fetch follows it
// (an origin that sends `/café` raw means `/caf%C3%A9`). The invalidation read them one byte a
// character (`/caf%C3%83%C2%A9`), and left what is stored for `/café` in place.
Deno.test("invalidation hunt: a Location or Content-Location with raw UTF-8 bytes invalidates the URL fetch would follow it to", async () => {
  const s = scripted((clock) => (request, n) => {
    if (request.method === "POST") {
      // The bytes of "/café" and "/naïve" in UTF-8, one character a byte, as fetch gives them.
      return reply("created", { location: "/caf\u00c3\u00a9", "content-location": "/na\u00c3\u00afve" }, {
        status: 201,
      });
    }
    return reply(`v${n}`, { "cache-control": "max-age=600" }, { clock });
  });
  const cafe = `${ORIGIN}/café`, naive = `${ORIGIN}/naïve`;
  try {
    await s.get(undefined, cafe);
    await s.get(undefined, naive);
    assertEquals((await s.get(undefined, cafe)).response.fromCache, true);
    await (await s.session.fetch(`${ORIGIN}/items`, { method: "POST", body: "x" })).text();
    assertEquals((await s.get(undefined, cafe)).response.fromCache, false);
    assertEquals((await s.get(undefined, naive)).response.fromCache, false);
  } finally {
    await s.session.close();
  }
});

// RFC 9110 §13.1.2: when If-None-Match matches, "for all other request methods [than GET and
// HEAD], the origin server MUST respond with a status code of 412 (Precondition Failed)", and it
// does not perform the method. A stale stored POST answer was asked for again with the stored
// ETag: the caller, who sent no condition, got a 412.
Deno.test("invalidation hunt: a stale stored POST answer is asked for again without validators, and its answer invalidates the URL", async () => {
  const s = scripted((clock) => async (request, n) => {
    if (request.method === "POST" && request.headers.get("if-none-match") === '"e"') {
      return reply("precondition failed", {}, { status: 412, clock });
    }
    const body = request.method === "POST" ? await request.text() : "";
    return reply(`${request.method} ${body} #${n}`, { "cache-control": "max-age=10", etag: '"e"' }, {
      clock,
    });
  }, { allowedMethods: ["GET", "POST"] });
  const post = () => s.get({ method: "POST", body: "q" });
  try {
    assertEquals((await post()).body, "POST q #1");
    s.clock.tick(60);
    assertEquals((await s.get()).body, "GET  #2");
    const again = await post();
    assertEquals([again.response.status, again.body], [200, "POST q #3"]);
    // The POST reached the origin: the stored GET is gone.
    assertEquals((await s.get()).body, "GET  #4");
  } finally {
    await s.session.close();
  }
});

// A session that stores POSTs reads the body for the key and sends a copy: a POST sent with
// header fields added (a reload's Pragma, no-cache's Cache-Control) lost the Content-Type that
// its body implies, so the origin could no longer read a form.
Deno.test("invalidation hunt: a stored-POST session keeps the Content-Type a body implies when it adds header fields", async () => {
  const s = scripted(
    () => async (request) => reply(`${request.headers.get("content-type")} ${await request.text()}`),
    {
      allowedMethods: ["GET", "POST"],
    },
  );
  try {
    for (const cache of ["default", "reload", "no-cache", "no-store"] as const) {
      const { body } = await s.get({ method: "POST", body: new URLSearchParams({ a: "1" }), cache });
      assertEquals(body, "application/x-www-form-urlencoded;charset=UTF-8 a=1", cache);
    }
  } finally {
    await s.session.close();
  }
});

// docs/http-semantics.md, "Invalidation (§4.4)": every stored entry of the target URI, every
// method's, every Vary variant, what a redirect to it led to, on every backend, whichever session
// stored it (shared, with ignoredParameters, storing HEAD or POST, with a keyFn). Nothing else.
Deno.test("invalidation hunt: an unsafe request removes every kind of entry of its URL on every backend", async (t) => {
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        const clock = new Clock();
        const o = origin((request) => {
          const { pathname } = new URL(request.url);
          if (request.method === "POST" && pathname === "/r" && request.headers.has("x-change")) {
            return reply("done");
          }
          const response = reply(request.method === "HEAD" ? null : `${request.method} ${pathname}`, {
            "cache-control": "max-age=600",
            vary: "accept-language",
          }, { clock });
          return pathname === "/old" ? reached(response, "/r") : response;
        });
        const open = (options: CachedSessionOptions = {}) =>
          new CachedSession({ fetch: o.fetch, now: clock.fn, backend: cache, ...options });
        const plain = open(),
          shared = open({ shared: true }),
          ignoring = open({ ignoredParameters: ["token"] });
        const heads = open({ allowedMethods: ["GET", "HEAD"] }),
          posts = open({ allowedMethods: ["GET", "POST"] });
        const tenants = open({ keyFn: byTenant });
        const r = `${ORIGIN}/r`;
        try {
          const stored: [CachedSession, string, RequestInit?][] = [
            [posts, r, { method: "POST", body: "query" }],
            [heads, r, { method: "HEAD" }],
            [plain, r, { headers: { "accept-language": "en" } }],
            [plain, r, { headers: { "accept-language": "fr" } }],
            [shared, r],
            [ignoring, `${r}?token=1`],
            [tenants, r],
            [plain, `${ORIGIN}/old`],
            [plain, `${ORIGIN}/other`],
          ];
          for (const [session, url, init] of stored) await (await session.fetch(url, init)).text();
          for (const [session, url, init] of stored) {
            assertEquals((await session.fetch(url, init)).fromCache, true, `${url} ${JSON.stringify(init)}`);
          }
          const post = await plain.fetch(r, { method: "POST", body: "change", headers: { "x-change": "1" } });
          await post.text();
          assertEquals(await Array.fromAsync(cache.storage.keys("")), [
            (await plain.fetch(`${ORIGIN}/other`)).cacheKey,
          ]);
        } finally {
          for (const session of [plain, shared, ignoring, heads, posts, tenants]) await session.close();
          await dispose(cache);
        }
      },
    });
  }
});
