/**
 * The library as real hosts use it: `installCache` given what is not an options object, and
 * `waitUntil` handed every piece of background work (so that a serverless host that freezes once
 * its handler returns, and waits only for what `waitUntil` got, ends no write half-way).
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { CachedSession, installCache, uninstallCache } from "../mod.ts";
import { Clock, origin, reply } from "./_origin.ts";
import { delay } from "./_fixtures.ts";

const URL_A = "http://127.0.0.1/hosting";

// installCache spread what it was given into an options object: a fetch function passed by
// mistake (`installCache(myFetch)`), or a number, installed a cache with the defaults, silently
// ignoring it, where cachedFetch and new CachedSession refuse it; `null` failed with the
// runtime's own "cannot read property" error.
Deno.test("installCache refuses options that are not an object, as CachedSession does, and patches nothing", () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=60" }));
  const found = globalThis.fetch;
  globalThis.fetch = o.fetch;
  try {
    for (const options of [o.fetch, 42, null, "max-age"]) {
      assertThrows(() => installCache(options as never), TypeError, "options must be an object");
      assertEquals(globalThis.fetch, o.fetch, `patched for ${typeof options}`);
    }
  } finally {
    uninstallCache();
    globalThis.fetch = found;
  }
});

/** A memory storage whose every call settles on a later turn of the event loop, as a remote one does. */
class RemoteLike extends MemoryStorage {
  /** The calls not settled yet. */
  readonly pending = new Set<string>();
  #calls = 0;

  #later<T>(call: string, work: () => Promise<T>): Promise<T> {
    const id = `${call} #${this.#calls++}`;
    this.pending.add(id);
    return delay(1).then(work).finally(() => this.pending.delete(id));
  }

  override get(key: string): Promise<Uint8Array | undefined> {
    return this.#later("get", () => super.get(key));
  }
  override set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    return this.#later("set", () => super.set(key, value, deleteAt));
  }
  override delete(keys: string[]): Promise<void> {
    return this.#later("delete", () => super.delete(keys));
  }
}

// A guard rather than a bug: nothing checked that each kind of background work reaches
// waitUntil; one that did not would be cut off by a host that freezes once its handler returns.
Deno.test("waitUntil is handed every piece of background work: once it has all settled, no call to the storage is under way", async () => {
  const clock = new Clock();
  /** Whether `?gone` has been asked for already. */
  let asked = false;
  const o = origin((request, n) => {
    if (request.headers.get("if-none-match") === '"v"') {
      return new Response(null, { status: 304, headers: { etag: '"v"', "cache-control": "max-age=10" } });
    }
    // `?gone`: stored without a validator at first, then answered with no-store.
    const gone = new URL(request.url).search === "?gone";
    const again = gone && asked;
    asked ||= gone;
    return reply(`body ${n}`, {
      "cache-control": again ? "no-store" : "max-age=10, stale-while-revalidate=100",
      ...(gone ? {} : { etag: '"v"' }),
    }, { clock });
  });
  const storage = new RemoteLike();
  const background: Promise<unknown>[] = [];
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    fetch: o.fetch,
    now: clock.fn,
    waitUntil: (work) => void background.push(work),
  });
  /** What is under way once the handler has returned and every promise waitUntil got has settled. */
  const leftOver = async () => {
    while (background.length > 0) await Promise.all(background.splice(0));
    return [...storage.pending];
  };
  const handed: [string, number][] = [];
  const step = async (label: string, handler: () => Promise<unknown>) => {
    const before = background.length;
    await handler();
    handed.push([label, background.length - before]);
    assertEquals(await leftOver(), [], `${label}: work under way that waitUntil did not get`);
  };
  // A miss whose caller never reads the body: the cache reads it to the end and stores it.
  await step("miss, body unread", () => session.fetch(URL_A));
  // A miss whose caller cancels the body.
  await step("miss, body cancelled", async () => (await session.fetch(`${URL_A}?c`)).body?.cancel());
  clock.tick(20);
  // A stale response served at once and refreshed in the background (stale-while-revalidate).
  await step("refresh", async () => (await session.fetch(URL_A)).text());
  clock.tick(200);
  // A 304 that freshens the stored response: its update is written after the response is served.
  await step("revalidated", async () => (await session.fetch(URL_A)).text());
  // A newer answer that may not be stored (no-store) deletes the stale one it supersedes.
  await step("stored", async () => (await session.fetch(`${URL_A}?gone`)).text());
  clock.tick(200);
  await step("superseded", async () => (await session.fetch(`${URL_A}?gone`)).text());
  // Each of those handed something over (the guard would pass vacuously otherwise).
  for (const [label, count] of handed) assert(count > 0, `${label}: nothing handed to waitUntil`);
  await session.close();
});
