/**
 * Bodies larger than a backend keeps: the session does not collect them (the backend's
 * `maxEntrySize`, and `maxBytes` where the backend refuses a record larger than all it keeps),
 * and a newer response of that kind takes the older one out rather than let it outlive it. The
 * bound is on the record: a body within it whose fields take the record over it is not stored
 * either, nor reported stored; nor is one the storage fails to keep.
 */
import { assertEquals } from "./_assert.ts";
import { BACKENDS, dispose, Switched, until } from "./_fixtures.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { CachedSession, type CacheEvent } from "../mod.ts";

const URL_DOC = "http://127.0.0.1/doc";

/** A first response of `small` bytes, then ones of 5,000: with a declared length, or streamed without one. */
function origin(declared: boolean): typeof fetch {
  let calls = 0;
  return () => {
    const size = ++calls === 1 ? 9 : 5000;
    const bytes = new Uint8Array(size).fill(97);
    const body = declared ? bytes : new ReadableStream({
      start(controller) {
        for (let at = 0; at < size; at += 1000) controller.enqueue(bytes.slice(at, at + 1000));
        controller.close();
      },
    });
    return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=60" } }));
  };
}

const bounded: [string, () => CacheBackend][] = [
  ["memory, maxEntrySize", () => new MemoryBackend({ maxEntrySize: 1000 })],
  ["memory, maxBytes", () => new MemoryBackend({ maxBytes: 1000 })],
  ["sqlite, maxEntrySize", () => new SQLiteBackend({ path: ":memory:", maxEntrySize: 1000 })],
  ["sqlite, maxBytes", () => new SQLiteBackend({ path: ":memory:", maxBytes: 1000 })],
];

Deno.test("a newer response larger than the backend keeps takes the older one out, and is not reported stored", async (t) => {
  for (const [name, backend] of bounded) {
    for (const declared of [true, false]) {
      await t.step(`${name}, ${declared ? "declared length" : "streamed"}`, async () => {
        const events: CacheEvent[] = [];
        const session = new CachedSession({
          backend: backend(),
          fetch: origin(declared),
          onEvent: (event) => events.push(event),
        });
        assertEquals((await (await session.fetch(URL_DOC)).bytes()).length, 9);
        const reload = await session.fetch(URL_DOC, { cache: "reload" });
        assertEquals((await reload.bytes()).length, 5000);
        await session.close(); // waits for the delete
        const next = await session.fetch(URL_DOC);
        assertEquals([(await next.bytes()).length, next.fromCache], [5000, false]);
        assertEquals(events.filter((event) => event.type === "store").length, 1, "only the first was stored");
        assertEquals(await session.cache.count(), 0);
        await session.close();
      });
    }
  }
});

Deno.test("sqlite and memory tell the session the largest record they keep: maxEntrySize, at most maxBytes", () => {
  assertEquals(new SQLiteBackend({ path: ":memory:" }).storage.maxEntrySize, undefined);
  assertEquals(
    new SQLiteBackend({ path: ":memory:", maxEntrySize: 10, maxBytes: 5 }).storage.maxEntrySize,
    5,
  );
  assertEquals(new SQLiteBackend({ path: ":memory:", maxBytes: 7 }).storage.maxEntrySize, 7);
  assertEquals(new MemoryBackend({ maxEntrySize: 10, maxBytes: 5 }).storage.maxEntrySize, 5);
  assertEquals(new MemoryBackend({ maxEntrySize: 10 }).storage.maxEntrySize, 10);
});

Deno.test("a session clock behind the real one: the storage keeps what the session still uses", async (t) => {
  const backends: [string, () => CacheBackend][] = [
    ["memory", () => new MemoryBackend()],
    ["sqlite", () => new SQLiteBackend({ path: ":memory:" })],
  ];
  for (const [name, backend] of backends) {
    await t.step(name, async () => {
      let calls = 0;
      const session = new CachedSession({
        backend: backend(),
        now: () => Date.now() - 300_000, // five minutes behind
        fetch: () =>
          Promise.resolve(new Response(`v${++calls}`, { headers: { "cache-control": "max-age=60" } })),
      });
      for (let i = 0; i < 3; i++) await (await session.fetch(URL_DOC)).text();
      assertEquals(calls, 1);
      await session.close();
    });
  }
});

/** A 9-byte response, then 1,990-byte ones: a body within 2,000 bytes, its record (with fields) over. */
function nearTheBound(): typeof fetch {
  let calls = 0;
  return () => {
    const body = new Uint8Array(++calls === 1 ? 9 : 1990).fill(97);
    return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=60" } }));
  };
}

Deno.test("a body within maxEntrySize whose record is over it is not stored, nor reported stored, and takes the older one out", async (t) => {
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        // (Closing the session closes its handle: the other one looks after.)
        const [cache, other] = await backend.openTwice({ maxEntrySize: 2000 });
        const events: CacheEvent[] = [];
        const session = new CachedSession({
          backend: cache,
          fetch: nearTheBound(),
          onEvent: (event) => events.push(event),
        });
        const after = new CachedSession({ backend: other, fetch: nearTheBound() });
        try {
          assertEquals((await (await session.fetch(URL_DOC)).bytes()).length, 9);
          const reload = await session.fetch(URL_DOC, { cache: "reload" });
          assertEquals((await reload.bytes()).length, 1990);
          await session.close(); // waits for the write
          assertEquals(
            events.filter((event) => event.type === "store").length,
            1,
            "only the first was stored",
          );
          assertEquals(session.stats().stored, 1);
          assertEquals(await other.count(), 0, "the older entry went");
          const next = await after.fetch(URL_DOC);
          assertEquals([(await next.bytes()).length, next.fromCache], [9, false]);
        } finally {
          await session.close();
          await dispose(other);
        }
      },
    });
  }
});

Deno.test("a newer response the storage fails to write takes the older one out", async () => {
  const storage = new Switched(new MemoryStorage());
  const errors: unknown[] = [];
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    fetch: nearTheBound(),
    onError: (error) => errors.push(error),
  });
  assertEquals((await (await session.fetch(URL_DOC)).bytes()).length, 9);
  storage.full = true;
  assertEquals((await (await session.fetch(URL_DOC, { cache: "reload" })).bytes()).length, 1990);
  await session.close(); // waits for the write
  assertEquals(errors.length, 1, "the failed write is reported");
  assertEquals(await session.cache.count(), 0, "the older entry went");
  const next = await session.fetch(URL_DOC);
  assertEquals([(await next.bytes()).length, next.fromCache], [1990, false]);
  await session.close();
});

/** A store whose writes and deletes fail while `full`, as SQLite's do on a full disk (its reads work). */
class FullForDeletes extends Switched {
  override delete(keys: string[]): Promise<void> {
    return this.full ? Promise.reject(new Error("disk full")) : super.delete(keys);
  }
}

Deno.test("an older response outlives no newer one the storage fails to write, even where its delete fails too", async () => {
  const storage = new FullForDeletes(new MemoryStorage());
  const errors: unknown[] = [];
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    fetch: nearTheBound(),
    onError: (error) => errors.push(error),
  });
  const read = async (init?: RequestInit) => {
    const response = await session.fetch(URL_DOC, init);
    return [(await response.bytes()).length, response.fromCache];
  };
  assertEquals(await read(), [9, false]);
  storage.full = true;
  assertEquals(await read({ cache: "reload" }), [1990, false]);
  await until(() => errors.length === 1); // the failed write
  assertEquals(await session.cache.count(), 1, "the older entry is still stored");
  assertEquals(await read(), [1990, false], "the older entry is not served");
  storage.full = false;
  assertEquals(await read(), [1990, false]);
  assertEquals(await read(), [1990, true], "once the storage works, the key is stored and served again");
  await session.close();
});

Deno.test("an older response outlives no newer one the storage failed to write, while deletes keep failing and nothing newer is stored", async () => {
  const storage = new FullForDeletes(new MemoryStorage());
  const errors: unknown[] = [];
  let calls = 0;
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    // The old response, a newer one the storage fails to keep, then only responses not to store.
    fetch: () => {
      calls++;
      const [body, cc] = calls === 1
        ? ["old", "max-age=60"]
        : calls === 2
        ? ["new", "max-age=60"]
        : ["newest", "no-store"];
      return Promise.resolve(new Response(body, { headers: { "cache-control": cc } }));
    },
    onError: (error) => errors.push(error),
  });
  const read = async (init?: RequestInit) => {
    const response = await session.fetch(URL_DOC, init);
    return [await response.text(), response.fromCache];
  };
  assertEquals(await read(), ["old", false]);
  storage.full = true;
  assertEquals(await read({ cache: "reload" }), ["new", false]);
  await until(() => errors.length === 1); // the failed write
  // Each read retries the delete, which fails again: the key stays a miss, read after read.
  assertEquals(await read(), ["newest", false]);
  assertEquals(await read(), ["newest", false], "the older entry is not served");
  await session.close();
});
