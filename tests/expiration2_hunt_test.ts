/**
 * Expiration, second pass: how the storage's own expiry (`deleteAt`) and eviction agree with what
 * the session still serves or revalidates, on every backend.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { Clock, origin, reached, reply } from "./_origin.ts";
import { DeleteAts } from "./_scripted.ts";
import { BACKENDS, dispose, Switched } from "./_fixtures.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { ALIAS_PREFIX } from "../src/cache_keys.ts";
import { CachedSession } from "../mod.ts";

/** An origin where /old redirects to /new, whose response a 304 freshens for a long time. */
function redirecting(clock: Clock) {
  return origin((request) => {
    const response = request.headers.get("if-none-match") === '"v1"'
      ? reply(null, { "cache-control": "max-age=200000", etag: '"v1"' }, { status: 304, clock })
      : reply("v1", { "cache-control": "max-age=10", etag: '"v1"' }, { clock });
    return new URL(request.url).pathname === "/old" ? reached(response, "/new") : response;
  });
}

// A 304 to a request for where a redirect led (/new), which finds the entry stored under /old
// through the redirect's alias, wrote the freshened entry for its new lifetime but left the alias
// at its first one: the storage dropped the alias first, and the entry, fresh for two days more,
// was then served to neither URL (an entry a redirect led to is served only while its alias holds).
Deno.test("a 304 through a redirect's alias keeps that alias as long as the freshened entry", async () => {
  const clock = new Clock();
  const o = redirecting(clock);
  const storage = new DeleteAts();
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, backend: new CacheBackend(storage) });
  await (await session.fetch("http://127.0.0.1/old")).text();
  // (On the session's clock: the storage's shift onto the real one, in whole seconds, is worked
  // out at each write, and a second may pass between an entry's and its alias's on a loaded machine.)
  const first = storage.writtenOnSessionClock("entry", clock.now)!;
  assertEquals(storage.writtenOnSessionClock("alias", clock.now), first);
  clock.tick(60);
  const revalidated = await session.fetch("http://127.0.0.1/new");
  assertEquals([await revalidated.text(), revalidated.revalidated, o.calls], ["v1", true, 2]);
  await session.close(); // the freshened entry is written in the background
  const freshened = storage.writtenOnSessionClock("entry", clock.now)!;
  assert(freshened > first, "the entry lives on");
  assertEquals(storage.writtenOnSessionClock("alias", clock.now), freshened);
  // Both URLs are still answered from the one entry.
  const again = new CachedSession({ fetch: o.fetch, now: clock.fn, backend: new CacheBackend(storage) });
  for (const url of ["http://127.0.0.1/old", "http://127.0.0.1/new"]) {
    const response = await again.fetch(url);
    assertEquals([await response.text(), response.fromCache], ["v1", true], url);
  }
  assertEquals(o.calls, 2);
  await again.close();
});

/** A storage that notes the `deleteAt` each key was last written with, over a real one. */
class Noted extends Switched {
  readonly deleteAts = new Map<string, number>();
  override set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    this.deleteAts.set(key, deleteAt);
    return super.set(key, value, deleteAt);
  }
}

// The same on every backend: the alias is written again, with the entry's new deleteAt.
for (const backend of BACKENDS) {
  Deno.test({
    name:
      `${backend.name}: a 304 through a redirect's alias writes the alias again for the entry's new lifetime`,
    ignore: backend.skip !== undefined,
    async fn() {
      const cache = await backend.open();
      const storage = new Noted(cache.storage);
      const clock = new Clock();
      const o = redirecting(clock);
      const background: Promise<unknown>[] = [];
      const session = new CachedSession({
        fetch: o.fetch,
        now: clock.fn,
        backend: new CacheBackend(storage),
        waitUntil: (work) => background.push(work),
      });
      try {
        await (await session.fetch("http://127.0.0.1/old")).text();
        clock.tick(60);
        await (await session.fetch("http://127.0.0.1/new")).text();
        await Promise.all(background.splice(0)); // the freshened entry is written in the background
        const entries = [...storage.deleteAts].filter(([key]) => !key.startsWith(ALIAS_PREFIX));
        const aliases = [...storage.deleteAts].filter(([key]) => key.startsWith(ALIAS_PREFIX));
        assertEquals([entries.length, aliases.length], [1, 1]);
        // (Within the second by which the storage's shift onto the real clock may differ between
        // two writes on a loaded machine; the alias's first lifetime was two days shorter.)
        const apart = Math.abs(aliases[0]![1] - entries[0]![1]);
        assert(apart <= 1000, `the alias and the entry expire ${apart} ms apart`);
        for (const url of ["http://127.0.0.1/old", "http://127.0.0.1/new"]) {
          const response = await session.fetch(url);
          assertEquals([await response.text(), response.fromCache], ["v1", true], url);
        }
        assertEquals(o.calls, 2);
      } finally {
        await session.close();
        await dispose(cache);
      }
    },
  });
}

// MemoryStorage evicted the least recently used record when full even while records past their
// deleteAt (gone for reads, never served again) held places: a live entry was dropped and a dead
// one kept. (A record written with a deleteAt already past stands for one whose time has come.)
Deno.test("memory: a full store makes room from records past their deleteAt before evicting a live one", async () => {
  const storage = new MemoryStorage({ maxEntries: 2 });
  const bytes = new Uint8Array([1, 2, 3]);
  await storage.set("live", bytes, Infinity);
  await storage.set("dead", bytes, Date.now() - 1);
  await storage.set("new", bytes, Infinity);
  assertEquals(await storage.get("live"), bytes);
  assertEquals(await storage.get("new"), bytes);
  assertEquals(await storage.get("dead"), undefined);
  // The same for the bound on bytes.
  const small = new MemoryStorage({ maxBytes: 6 });
  await small.set("live", bytes, Infinity);
  await small.set("dead", bytes, Date.now() - 1);
  await small.set("new", bytes, Infinity);
  assertEquals([await small.get("live"), small.bytes], [bytes, 6]);
  // And without dead records, the least recently used still goes first.
  await storage.get("live");
  await storage.set("third", bytes, Infinity);
  assertEquals([await storage.get("new"), await storage.get("live")], [undefined, bytes]);
});
