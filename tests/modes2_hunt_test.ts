/**
 * The fetch cache modes, hunted a second time: a `reload` crossed with `HEAD` requests and with
 * redirect aliases, on every backend (after `modes_hunt_test.ts`).
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { type CacheBackend, CachedSession } from "../mod.ts";
import { BACKENDS, dispose } from "./_fixtures.ts";
import { Clock, origin, reached, reply, settle } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/** An origin whose representation changes when told, and that answers its ETag with a 304. */
function versioned(backend: CacheBackend) {
  const state = { version: 0 };
  const s = scripted((clock) => (request) => {
    const headers = { "cache-control": "max-age=600", etag: `"e${state.version}"` };
    if (request.headers.get("if-none-match") === headers.etag) {
      return reply(null, headers, { status: 304, clock });
    }
    return reply(request.method === "HEAD" ? null : `v${state.version}`, headers, { clock });
  }, { backend, cacheStatus: true });
  return { ...s, state };
}

for (const backend of BACKENDS) {
  // A reload HEAD read the HEAD's own slot alone: its response, which showed the stored GET
  // response outdated (another ETag), was stored there beside it, and the GET response went on
  // answering both GETs and HEADs (an older response than the reload got). RFC 9111 §4.3.5 has a
  // HEAD response update or invalidate the stored GET response it could select, as a no-cache
  // HEAD here did already.
  Deno.test({
    name: `a reload HEAD whose response shows the stored GET response outdated drops it (${backend.name})`,
    ignore: backend.skip !== undefined,
    async fn() {
      const s = versioned(await backend.open());
      try {
        await s.get();
        s.state.version = 1;
        const head = await s.session.fetch(URL_A, { method: "HEAD", cache: "reload" });
        assertEquals(
          [head.headers.get("etag"), head.fromCache, head.headers.get("cache-status")],
          ['"e1"', false, "http-cache; fwd=request; fwd-status=200"],
        );
        await settle();
        const again = await s.session.fetch(URL_A, { method: "HEAD" });
        assertEquals([again.headers.get("etag"), again.fromCache], ['"e1"', false], "a later HEAD");
        const get = await s.get();
        assertEquals([get.body, get.response.headers.get("etag")], ["v1", '"e1"'], "a later GET");
      } finally {
        await s.session.close();
        await dispose(s.session.cache);
      }
    },
  });

  // The same reload HEAD, when it describes the stored GET response, freshens it (§4.3.5), as any
  // other HEAD response does: a stale GET response is then served without a revalidation.
  Deno.test({
    name: `a reload HEAD that describes the stale stored GET response freshens it (${backend.name})`,
    ignore: backend.skip !== undefined,
    async fn() {
      const s = versioned(await backend.open());
      try {
        await s.get();
        s.clock.tick(700);
        const head = await s.session.fetch(URL_A, { method: "HEAD", cache: "reload" });
        assertEquals(
          [head.headers.get("etag"), head.fromCache, head.headers.get("cache-status")],
          ['"e0"', false, "http-cache; fwd=request; fwd-status=200; stored; ttl=600"],
        );
        await settle();
        const calls = s.origin.calls;
        const get = await s.get();
        assertEquals([get.body, get.response.fromCache, s.origin.calls], ["v0", true, calls]);
      } finally {
        await s.session.close();
        await dispose(s.session.cache);
      }
    },
  });

  // A reload read its own primary slot alone, not the alias from where a redirect that `fetch`
  // followed led: when /new was stored only under /old (what /old led to), a reload of /new that
  // found /new gone (a 404) left that stale response in place, and the next request for /new was
  // served it (stale-while-revalidate), where a default or no-cache request's 404 drops it. The
  // reload also said `fwd=uri-miss`, as if nothing were stored for /new.
  Deno.test({
    name:
      `a reload whose answer may not be stored drops the stale response a redirect alias leads to (${backend.name})`,
    ignore: backend.skip !== undefined,
    async fn() {
      const clock = new Clock();
      let gone = false;
      const o = origin((request) => {
        if (gone) return reply("gone", {}, { status: 404, clock });
        const headers = { "cache-control": "max-age=10, stale-while-revalidate=600" };
        const response = reply("content of /new", headers, { clock });
        return new URL(request.url).pathname === "/old" ? reached(response, "/new") : response;
      });
      const background: Promise<unknown>[] = [];
      const session = new CachedSession({
        backend: await backend.open(),
        fetch: o.fetch,
        now: clock.fn,
        cacheStatus: true,
        waitUntil: (work) => background.push(work),
      });
      try {
        await (await session.fetch("http://127.0.0.1/old")).text();
        clock.tick(20); // stale, within its stale-while-revalidate window
        gone = true;
        const reload = await session.fetch("http://127.0.0.1/new", { cache: "reload" });
        assertEquals(
          [reload.status, await reload.text(), reload.headers.get("cache-status")],
          [404, "gone", "http-cache; fwd=request; fwd-status=404"],
        );
        await Promise.all(background.splice(0)); // the stale response's delete
        const calls = o.calls;
        const next = await session.fetch("http://127.0.0.1/new");
        assertEquals([next.status, await next.text(), next.fromCache, o.calls], [
          404,
          "gone",
          false,
          calls + 1,
        ]);
      } finally {
        await session.close();
        await dispose(session.cache);
      }
    },
  });
}
