/**
 * Options, a second pass: each backend uses the options it checked at construction, as the session
 * does: those inherited (a class's getters, `Object.create(defaults)`) as well as its own, and
 * none that the caller's object says after the construction, which were never checked.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { MongoDBBackend, type MongoDBBackendOptions } from "../backends/mongodb.ts";
import { SQLiteBackend, type SQLiteBackendOptions } from "../backends/sqlite.ts";
import { tempDir } from "./_runtime.ts";
import { serviceUrl } from "./_services.ts";

const dir = tempDir("http_cache_options2_hunt_");
const mongodb = serviceUrl("MONGODB_URL");

/** Writes a record through the backend, and reads it back through another over `path`. */
async function landsIn(backend: SQLiteBackend, path: string): Promise<number[] | undefined> {
  try {
    await backend.storage.set("key", new Uint8Array([1, 2, 3]), Date.now() + 60_000);
  } finally {
    await backend.close();
  }
  const reader = new SQLiteBackend({ path });
  try {
    const found = await reader.storage.get("key");
    return found === undefined ? undefined : [...found];
  } finally {
    await reader.close();
  }
}

// SQLiteBackend checked an inherited `path` (a class's getter, a prototype of defaults) but kept a
// spread of the options, which drops it: the cache went to the default file, `http_cache.db` in
// the working directory, and its bounds and busyTimeout were dropped alike.
Deno.test("sqlite backend: a path inherited from a prototype or a class's getter is the file used", async () => {
  const fromPrototype = `${dir}/prototype.db`;
  const created = Object.create({ path: fromPrototype }) as SQLiteBackendOptions;
  assertEquals(await landsIn(new SQLiteBackend(created), fromPrototype), [1, 2, 3]);

  const fromGetter = `${dir}/getter.db`;
  class Options {
    get path(): string {
      return fromGetter;
    }
  }
  assertEquals(await landsIn(new SQLiteBackend(new Options()), fromGetter), [1, 2, 3]);
});

// MongoDBBackend kept the caller's options object and read it when it connected, at the first
// call: a `db` or `collection` set on it after the construction (never checked, a name MongoDB
// refuses, a number) decided where the records went.
Deno.test({
  name: "mongodb backend: changing its options object after the construction changes nothing",
  ignore: mongodb.skip !== undefined,
  async fn() {
    const db = `options2_${crypto.randomUUID().slice(0, 8)}`;
    const options: MongoDBBackendOptions = { url: mongodb.url!, db, collection: "responses_v1" };
    const backend = new MongoDBBackend(options);
    options.db = `${db}_later`;
    options.collection = 42 as never;
    const reader = new MongoDBBackend({ url: mongodb.url!, db, collection: "responses_v1" });
    const later = new MongoDBBackend({ url: mongodb.url!, db: `${db}_later`, collection: "responses_v1" });
    try {
      await backend.storage.set("key", new Uint8Array([1, 2, 3]), Date.now() + 60_000);
      assertEquals([...(await reader.storage.get("key")) ?? []], [1, 2, 3]);
      assertEquals(await later.storage.get("key"), undefined);
    } finally {
      for (const each of [reader, later]) {
        await each.clear().catch(() => {});
        await each.close();
      }
      await backend.close();
    }
  },
});
