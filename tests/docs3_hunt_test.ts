/**
 * Promises of README.md, docs/*.md and the public JSDoc made or changed lately, checked against
 * the code where no other test pinned them: each test names the page and the sentence.
 */
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { CorruptRecordError } from "../mod.ts";
import { assertEquals } from "./_assert.ts";
import { reply } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/** A storage that finds a record damaged below the record format: it deletes it and says so. */
class DamagedStorage extends MemoryStorage {
  override readonly name = "damaged";
  /** The keys whose records are damaged. */
  readonly damaged = new Set<string>();
  override async get(key: string): Promise<Uint8Array | undefined> {
    if (!this.damaged.has(key)) return super.get(key);
    this.damaged.delete(key);
    await this.delete([key]);
    throw new CorruptRecordError(`Cannot read ${key}: a part is missing`);
  }
}

// docs/custom-backend.md: a storage that rejects a read with a CorruptRecordError for a record it
// found damaged and deleted: "a listing skips the record". (tests/faults2_hunt_test.ts pins the
// session's side: a miss, reported, an evict of reason corrupt, no rest of the reads.)
Deno.test("docs3: the inspection API skips a record that a custom storage rejects as corrupt", async () => {
  const storage = new DamagedStorage();
  const { session, get } = scripted(
    (clock) => () => reply("body", { "cache-control": "max-age=600" }, { clock }),
    { backend: new CacheBackend(storage), onError: () => {} },
  );
  try {
    for (const path of ["a", "b", "c"]) await get(undefined, `${URL_A}/${path}`);
    const keys: string[] = [];
    for await (const key of session.cache.keys()) keys.push(key);
    assertEquals(keys.length, 3);
    storage.damaged.add(keys[0]!);
    assertEquals((await session.cache.urls()).length, 2);
    storage.damaged.add(keys[1]!);
    assertEquals(await session.cache.count({ valid: true }), 1);
    assertEquals(await session.cache.delete({ urlPattern: "127.0.0.1/*" }), 1);
    assertEquals(await session.cache.count(), 0);
  } finally {
    await session.close();
  }
});
