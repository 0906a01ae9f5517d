/**
 * Invalidation (RFC 9111 §4.4) and the cache's own deletes, hunted a second time: what a write
 * already on its way may bring back after an invalidation of the slot it goes to, where that slot
 * is not the URL the request asked for (the slot of a URL whose redirect led here, reached through
 * its alias) or its key names no URL (a `keyFn`'s own key).
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";
import { BACKENDS, dispose, until, within } from "./_fixtures.ts";
import { Clock, reached, reply } from "./_origin.ts";
import { scripted } from "./_scripted.ts";

const ORIGIN = "http://127.0.0.1";

/** A `keyFn` of the kind docs/cache-keys.md allows: a key of its own, that starts with no URL's digest. */
const ownKey: CachedSessionOptions["keyFn"] = (request) => `page:${new URL(request.url).pathname}`;

/**
 * An origin whose `fetch` follows `/old`'s redirect to `/new` itself (the cache sees where it led,
 * and stores it under `/old` with an alias from `/new`), answers an `If-None-Match` of `"v1"` with a
 * `304`, and a `POST` with `done`. The response to the request `hold()` names waits for its release.
 */
function redirecting(clock: Clock, cacheControl: string) {
  const requests: Request[] = [];
  let held: Promise<void> | undefined;
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request);
    if (request.method === "POST") return reply("done");
    const gate = held;
    held = undefined;
    await gate;
    const fields = { "cache-control": cacheControl, etag: '"v1"' };
    const response = request.headers.get("if-none-match") === '"v1"'
      ? reply(null, fields, { status: 304, clock })
      : reply("what /new holds", fields, { clock });
    return new URL(request.url).pathname === "/old" ? reached(response, "/new") : response;
  };
  return {
    fetch: fetch as typeof globalThis.fetch,
    requests,
    /** Holds the next response until the returned function is called. */
    hold(): () => void {
      let release!: () => void;
      held = new Promise((resolve) => release = resolve);
      return release;
    },
  };
}

// A request for /new that found what /old's redirect led to through /new's alias, and revalidated
// it, wrote the 304's update back to /old's slot although a POST to /old had removed it meanwhile:
// the write was checked against /new alone. /old was then answered from the cache with what it
// held before the POST (RFC 9111 §4.4: nothing stored for the URI before stays after).
Deno.test("invalidation2 hunt: a revalidation through a redirect alias does not put back the entry a POST to the URL it belongs to removed", async (t) => {
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        const clock = new Clock();
        const origin = redirecting(clock, "max-age=1");
        const background: Promise<unknown>[] = [];
        const session = new CachedSession({
          fetch: origin.fetch,
          now: clock.fn,
          backend: cache,
          waitUntil: (work) => void background.push(work),
        });
        try {
          await (await session.fetch(`${ORIGIN}/old`)).text();
          await within(5000, Promise.all(background));
          assertEquals((await session.fetch(`${ORIGIN}/old`)).fromCache, true);
          clock.tick(5);
          const release = origin.hold();
          const revalidation = session.fetch(`${ORIGIN}/new`);
          await within(5000, until(() => origin.requests.length === 2));
          assertEquals(origin.requests[1]!.headers.get("if-none-match"), '"v1"');
          await (await session.fetch(`${ORIGIN}/old`, { method: "POST", body: "change" })).text();
          release();
          const revalidated = await revalidation;
          await revalidated.text();
          assertEquals(revalidated.fromCache, true); // the caller of /new is answered from the 304
          await within(5000, Promise.all(background)); // the 304's update
          const old = await session.fetch(`${ORIGIN}/old`);
          assertEquals(`${old.fromCache} ${await old.text()}`, "false what /new holds");
          assertEquals(origin.requests.length, 4);
        } finally {
          await session.close();
          await dispose(cache);
        }
      },
    });
  }
});

// The same through a stale-while-revalidate refresh, with deleteUrls() of /old as the invalidation:
// the refresh's 304 wrote the entry back to the slot the delete had emptied.
Deno.test("invalidation2 hunt: a background refresh through a redirect alias does not put back what deleteUrls removed", async () => {
  const clock = new Clock();
  const origin = redirecting(clock, "max-age=1, stale-while-revalidate=60");
  const background: Promise<unknown>[] = [];
  const session = new CachedSession({
    fetch: origin.fetch,
    now: clock.fn,
    waitUntil: (work) => void background.push(work),
  });
  try {
    await (await session.fetch(`${ORIGIN}/old`)).text();
    clock.tick(5);
    const release = origin.hold();
    const stale = await session.fetch(`${ORIGIN}/new`);
    assertEquals(`${stale.fromCache} ${await stale.text()}`, "true what /new holds");
    await within(5000, until(() => origin.requests.length === 2));
    await session.cache.deleteUrls(`${ORIGIN}/old`);
    release();
    await within(5000, Promise.all(background));
    assertEquals(await session.cache.count(), 0);
    assertEquals((await session.fetch(`${ORIGIN}/old`)).fromCache, false);
  } finally {
    await session.close();
  }
});

// docs/inspection.md: "delete(...keys) invalidates the URLs of those keys" and a response asked for
// before the delete is not stored after it. A key of keyFn's own (not built on the default key)
// named no URL a write was checked by: the response on its way was stored after the delete.
Deno.test("invalidation2 hunt: cache.delete(key) of a keyFn's own key keeps a response asked for before it from being stored after", async (t) => {
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const cache = await backend.open();
        let release!: () => void;
        const held = new Promise<void>((resolve) => release = resolve);
        const writes: Promise<unknown>[] = [];
        const s = scripted((clock) => async (_request, n) => {
          if (n === 2) await held; // answers after the delete
          return reply(`v${n}`, { "cache-control": "max-age=600" }, { clock });
        }, { keyFn: ownKey, backend: cache, waitUntil: (work) => void writes.push(work) });
        try {
          const { response } = await s.get();
          assertEquals(response.cacheKey, "page:/resource");
          const reload = s.get({ cache: "reload" });
          await within(5000, until(() => s.origin.calls === 2));
          await s.session.cache.delete("page:/resource");
          release();
          assertEquals((await reload).body, "v2");
          await within(5000, Promise.all(writes));
          assertEquals(await cache.get("page:/resource"), undefined);
          assertEquals((await s.get()).body, "v3");
        } finally {
          await s.session.close();
          await dispose(cache);
        }
      },
    });
  }
});

// http-semantics.md §4.4 (which inspection.md's deletes follow): a response asked for before the
// invalidation is not shared with a request that came after it and waits for an identical one
// still on its way. With a keyFn's own key, a request that joined after delete(key) was answered
// with the response asked for before the delete.
Deno.test("invalidation2 hunt: a request that waits after cache.delete(key) of a keyFn's own key does not get the response asked for before it", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const s = scripted((clock) => async (_request, n) => {
    if (n === 1) await held;
    return reply(`v${n}`, { "cache-control": "max-age=600" }, { clock });
  }, { keyFn: ownKey });
  try {
    const first = s.get();
    await within(5000, until(() => s.origin.calls === 1));
    await s.session.cache.delete("page:/resource");
    const second = s.get();
    release();
    assertEquals((await first).body, "v1");
    assertEquals((await second).body, "v2");
    assertEquals(s.origin.calls, 2);
  } finally {
    await s.session.close();
  }
});
