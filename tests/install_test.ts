/**
 * `cachedFetch` and `installCache` / `uninstallCache`: the drop-in forms of a session, also beside
 * other code that wraps or replaces `globalThis.fetch` (an instrumentation's wrapper, a logger, a
 * mock) and fetch options that lead back to the session. Each test
 * that patches `globalThis.fetch` puts back what it found, whatever happens.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { cachedFetch, CachedResponse, CachedSession, installCache, uninstallCache } from "../mod.ts";
import { origin, reply } from "./_origin.ts";
import { until, withGlobalFetch, within } from "./_fixtures.ts";

const URL_A = "http://127.0.0.1/a";
const FRESH = { "cache-control": "max-age=60" };

Deno.test("cachedFetch: a function with fetch's signature, its session at .session", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const fetch = cachedFetch({ fetch: o.fetch });
  assert(fetch.session instanceof CachedSession);
  const first = await fetch(URL_A);
  const second = await fetch(new URL(URL_A), { headers: {} });
  assert(second instanceof CachedResponse);
  assertEquals([first.fromCache, await first.text(), second.fromCache, await second.text()], [
    false,
    "body 1",
    true,
    "body 1",
  ]);
  assertEquals(o.calls, 1);
  await fetch.session.close();
});

Deno.test("installCache: every fetch() goes through the cache until uninstallCache() puts back the fetch it replaced", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    // No `fetch` option: the session asks the fetch that was global before.
    const session = installCache();
    assert(globalThis.fetch !== o.fetch);
    const first = await fetch(URL_A);
    const second = await fetch(URL_A);
    assertEquals([(first as CachedResponse).fromCache, (second as CachedResponse).fromCache], [false, true]);
    assertEquals([await first.text(), await second.text(), o.calls], ["body 1", "body 1", 1]);
    assertEquals(session.stats().hits, 1);
    uninstallCache();
    assertEquals(globalThis.fetch, o.fetch);
    assertEquals((await fetch(URL_A)).headers.get("cache-control"), "max-age=60");
    assertEquals([o.calls, session.stats().requests], [2, 2], "after uninstallCache the cache is not asked");
    await session.close();
  });
});

Deno.test("installCache: what the runtime hangs on its fetch (Bun's fetch.preconnect) stays there", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const preconnected: string[] = [];
  const runtimeFetch = Object.assign(o.fetch, { preconnect: (url: string) => void preconnected.push(url) });
  await withGlobalFetch(runtimeFetch, async () => {
    const session = installCache();
    const installed = globalThis.fetch as typeof runtimeFetch;
    installed.preconnect(URL_A);
    assertEquals(preconnected, [URL_A]);
    assert(installed !== runtimeFetch);
    await session.close();
  });
});

Deno.test("cachedFetch: set as the global fetch, it keeps what the runtime hangs on its fetch (Bun's fetch.preconnect)", async () => {
  // (README: `globalThis.fetch = cachedFetch()`. Before, `fetch.preconnect` was then undefined.)
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const preconnected: string[] = [];
  const runtimeFetch = Object.assign(o.fetch, { preconnect: (url: string) => void preconnected.push(url) });
  await withGlobalFetch(runtimeFetch, async () => {
    const fetch = cachedFetch() as ReturnType<typeof cachedFetch> & { preconnect(url: string): void };
    fetch.preconnect(URL_A);
    assertEquals(preconnected, [URL_A]);
    await fetch.session.close();
  });
});

Deno.test("installCache: a second installation replaces the first, not wraps it; uninstallCache then restores the original", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    const first = installCache();
    const second = installCache({ expireAfter: 5 });
    assertEquals(await (await fetch(URL_A)).text(), "body 1");
    // The second session asked the original fetch, not the first installation.
    assertEquals([first.stats().requests, second.stats().requests, o.calls], [0, 1, 1]);
    uninstallCache();
    assertEquals(globalThis.fetch, o.fetch);
    await first.close();
    await second.close();
  });
});

Deno.test("installCache: a fetch option of undefined, or the installed cached fetch itself, means the original fetch", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    // An own `fetch: undefined` (from JavaScript, or a spread of optional settings) once made the
    // session ask globalThis.fetch, which is the cached fetch: every request waited on itself.
    const first = installCache({ fetch: undefined, expireAfter: 60 } as never);
    const response = await within(10_000, fetch(URL_A));
    assertEquals([response.status, await response.text(), o.calls], [200, "body 1", 1]);
    // Installing again with `fetch: globalThis.fetch` names the first installation: it is replaced.
    const second = installCache({ fetch: globalThis.fetch, expireAfter: 5 });
    assertEquals(await (await within(10_000, fetch(`${URL_A}?again`))).text(), "body 2");
    assertEquals([first.stats().requests, second.stats().requests], [1, 1]);
    await first.close();
    await second.close();
  });
});

Deno.test("uninstallCache: leaves a fetch that someone installed after the cache, and does nothing twice", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const other: typeof globalThis.fetch = (input, init) => o.fetch(input, init);
  await withGlobalFetch(o.fetch, async () => {
    const session = installCache();
    globalThis.fetch = other;
    uninstallCache();
    assertEquals(globalThis.fetch, other);
    uninstallCache();
    assertEquals(globalThis.fetch, other);
    await session.close();
  });
});

Deno.test("installCache: invalid options throw before anything is patched", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, () => {
    assertThrows(() => installCache({ expireAfter: -5 }), RangeError, "expireAfter");
    assertEquals(globalThis.fetch, o.fetch);
  });
});

/** Wraps the global fetch as instrumentation does; the function returned puts back what it found. */
function wrapGlobalFetch(seen: string[]): () => void {
  const inner = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    seen.push(String(input));
    return inner(input, init);
  };
  return () => void (globalThis.fetch = inner);
}

Deno.test("uninstallCache under a wrapper: when the wrapper later puts back what it found, no cache comes back", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    const session = installCache();
    const unwrap = wrapGlobalFetch([]);
    await (await fetch(URL_A)).text();
    uninstallCache();
    unwrap();
    const response = await fetch(URL_A);
    assertEquals([await response.text(), (response as CachedResponse).fromCache], ["body 2", undefined]);
    assertEquals(session.stats().requests, 1, "the uninstalled cache was asked again");
    await session.close();
  });
});

Deno.test("installCache again over a wrapper set since: the wrapper is kept, and the first cache is not asked", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    const first = installCache();
    const seen: string[] = [];
    const unwrap = wrapGlobalFetch(seen);
    const second = installCache({ expireAfter: 5 });
    await (await fetch(URL_A)).text();
    assertEquals([seen, first.stats().requests, second.stats().requests], [[URL_A], 0, 1]);
    uninstallCache();
    unwrap();
    const response = await fetch(URL_A);
    assertEquals((response as CachedResponse).fromCache, undefined, "a cache is still installed");
    await response.body?.cancel();
    await first.close();
    await second.close();
  });
});

Deno.test("globalThis.fetch = cachedFetch(): the session asks the fetch that was global, not itself", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    const cached = cachedFetch({ coalesceRequests: true });
    globalThis.fetch = cached as typeof fetch;
    const response = await within(10_000, fetch(URL_A));
    assertEquals([await response.text(), o.calls], ["body 1", 1]);
    assert(!(response as CachedResponse).fromCache);
    assertEquals((await within(10_000, fetch(URL_A)) as CachedResponse).fromCache, true);
    await cached.session.close();
  });
});

Deno.test("installCache with a fetch option that calls globalThis.fetch, however it builds its request: the call reaches the fetch that was global, not the cache waiting for it", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const wrappers: [string, typeof fetch][] = [
    ["the init as given", (input, init) => fetch(input, init)],
    ["a copy of the init", (input, init) => fetch(input, { ...init })],
    ["a Request of its own", (input, init) => fetch(new Request(input, init))],
    ["a token from another URL first", async (input, init) => {
      await (await fetch(`${URL_A}token`)).text();
      return await fetch(input, init);
    }],
  ];
  for (const [label, wrapper] of wrappers) {
    await withGlobalFetch(o.fetch, async () => {
      const session = installCache({ fetch: wrapper, coalesceRequests: true });
      const response = await within(10_000, fetch(URL_A));
      assertEquals((response as CachedResponse).fromCache, false, label);
      await response.text();
      assertEquals((await within(10_000, fetch(URL_A)) as CachedResponse).fromCache, true, label);
      uninstallCache();
      await session.close();
    });
  }
  // The token's request went to the origin, uncached, as the wrapper's own requests do.
  assertEquals(o.requests.filter((request) => request.url.endsWith("token")).length, 1);
});

Deno.test("globalThis.fetch = cachedFetch() twice (a module run again by a hot reload), or under installCache: each session reaches the fetch before it, none waits on itself", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  const saved = globalThis.fetch;
  globalThis.fetch = o.fetch;
  try {
    const first = cachedFetch();
    globalThis.fetch = first as typeof fetch;
    const second = cachedFetch();
    globalThis.fetch = second as typeof fetch;
    const response = await within(5_000, fetch(URL_A));
    assertEquals([await response.text(), o.calls], ["body 1", 1]);
    assertEquals((await within(5_000, fetch(URL_A)) as CachedResponse).fromCache, true);
    const session = installCache();
    const installed = await within(5_000, fetch(`${URL_A}?b`));
    assertEquals([await installed.text(), o.calls], ["body 2", 2]);
    uninstallCache();
    await session.close();
    await first.session.close();
    await second.session.close();
  } finally {
    globalThis.fetch = saved;
  }
});

Deno.test("installCache: the application's work that a limiter shared with the fetch option runs after the option's request has settled reaches the cache", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  // A concurrency limiter of p-limit's shape: a task ending starts the next queued one.
  const queue: (() => void)[] = [];
  let active = 0;
  const limit = <T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const run = () => {
        active++;
        task().then(resolve, reject).finally(() => {
          active--;
          queue.shift()?.();
        });
      };
      if (active < 1) run();
      else queue.push(run);
    });
  await withGlobalFetch(o.fetch, async () => {
    const session = installCache({
      fetch: (input, init) =>
        limit(async () => {
          const response = await o.fetch(input, init);
          await new Promise((resolve) => setTimeout(resolve, 20));
          return response;
        }),
    });
    await (await within(10_000, fetch(URL_A))).text();
    const miss = within(10_000, fetch(`${URL_A}?other`));
    await until(() => o.calls === 2); // its origin request holds the limiter
    // Behind the miss's origin request: a pause, then a job of the application's for URL_A.
    limit(() => new Promise((resolve) => setTimeout(resolve, 20)));
    const job = limit(async () => (await fetch(URL_A) as CachedResponse).fromCache);
    assertEquals(await within(10_000, job), true);
    await (await miss).text();
    assertEquals(o.calls, 2);
    uninstallCache();
    await session.close();
  });
});
