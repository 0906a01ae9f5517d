/**
 * `installCache` / `uninstallCache` / `cachedFetch` beside other code that wraps or replaces
 * `globalThis.fetch` (an instrumentation's wrapper, a logger, a mock), and fetch options that
 * lead back to the session.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { cachedFetch, type CachedResponse, installCache, uninstallCache } from "../mod.ts";
import { origin, reply } from "./_origin.ts";

const URL_A = "http://127.0.0.1/a";
const FRESH = { "cache-control": "max-age=60" };

/** Runs `body` with `globalThis.fetch` set to `fetch`, and restores the fetch it found after. */
async function withGlobalFetch(
  fetch: typeof globalThis.fetch,
  body: () => void | Promise<void>,
): Promise<void> {
  const found = globalThis.fetch;
  globalThis.fetch = fetch;
  try {
    await body();
  } finally {
    uninstallCache();
    globalThis.fetch = found;
  }
}

/** Rejects when `promise` has not settled within 10 s, rather than leave the test hanging. */
async function deadline<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error("fetch did not settle within 10 s")), 10_000);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

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
    const response = await deadline(fetch(URL_A));
    assertEquals([await response.text(), o.calls], ["body 1", 1]);
    assert(!(response as CachedResponse).fromCache);
    assertEquals((await deadline(fetch(URL_A)) as CachedResponse).fromCache, true);
    await cached.session.close();
  });
});

Deno.test("installCache with a fetch option that calls globalThis.fetch: the request fails at once, not waits on itself", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, FRESH));
  await withGlobalFetch(o.fetch, async () => {
    const session = installCache({ fetch: (input, init) => fetch(input, init) });
    const failed = await deadline(fetch(URL_A).then(() => undefined, (error: Error) => error));
    assert(failed instanceof TypeError, `expected a TypeError, got ${failed}`);
    assert(failed.message.includes("called the session back"), failed.message);
    await session.close();
  });
});
