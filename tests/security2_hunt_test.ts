/**
 * A hostile or broken origin, and a hostile shared store: what another writer leaves there is a
 * miss, never a failed fetch, an allocation or a loop it sizes, nor another URL's response.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { DenoKVBackend, DenoKVStorage, type KvAtomic, type KvLike } from "../backends/deno_kv.ts";
import { CHUNK_SIZE, encodeManifest } from "../src/kv_manifest.ts";
import { type Kv, openKv, patterned } from "./_fixtures.ts";
import { tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_security2_");
let files = 0;

/** A manifest another writer crafted under key `k`: its length and chunk count agree, but no chunk is stored. */
async function craftedManifest(storage: DenoKVStorage, kv: Kv, length: number): Promise<void> {
  const manifest = { deleteAt: Infinity, length, chunks: Math.ceil(length / CHUNK_SIZE), generation: "g" };
  await kv.set([...storage.prefix, "entry", "k"], encodeManifest(manifest, undefined));
}

// A manifest's length and chunk count were checked to agree, not to be sane: a crafted one of a
// terabyte made every read of its key fail (a RangeError from the allocation, counted by the
// circuit breaker as a failing backend) and every scan (`list`, `stats`, `delete --expired`) abort.
Deno.test("deno-kv: a crafted manifest of a terabyte is a miss, and scans go past it", async () => {
  const kv = await openKv(join(dir, `kv_${files++}.kv`));
  const backend = new DenoKVBackend({ kv });
  const storage = backend.storage as DenoKVStorage;
  try {
    await craftedManifest(storage, kv, 1e12);
    deepEqual(await Array.fromAsync(backend.entries()), []);
    equal(await storage.get("k"), undefined);
    equal((await kv.get([...storage.prefix, "entry", "k"])).versionstamp, null, "deleted as damaged");
  } finally {
    await backend.close();
    kv.close();
  }
});

Deno.test("deno-kv: replacing a crafted manifest of a million chunks deletes only the chunks there are", async () => {
  const kv = await openKv(join(dir, `kv_${files++}.kv`));
  let deletes = 0;
  // Counts the keys deleted, and stops a loop over the crafted count early (four billion chunks, as
  // a u32 allows, ran the process out of memory before its first delete).
  const counted: KvLike = {
    get: (key) => kv.get(key),
    list: (selector, options) => kv.list(selector, options),
    close: () => kv.close(),
    atomic() {
      const atomic = kv.atomic();
      const wrapped: KvAtomic = {
        check: (...checks) => (atomic.check(...checks), wrapped),
        set: (key, value, options) => (atomic.set(key, value, options), wrapped),
        delete(key) {
          if (++deletes > 1000) throw new Error("deleted more keys than were ever written");
          atomic.delete(key);
          return wrapped;
        },
        commit: () => atomic.commit(),
      };
      return wrapped;
    },
  };
  const storage = new DenoKVStorage({ kv: counted });
  try {
    await craftedManifest(storage, kv, 2 ** 20 * CHUNK_SIZE);
    await storage.set("k", patterned(100), Infinity);
    equal((await storage.get("k"))?.length, 100);
    equal(deletes, 0);
  } finally {
    await storage.close();
    kv.close();
  }
});

Deno.test("deno-kv: a record longer than a handle keeps, another handle's, is read whole, and its chunks go when replaced", async () => {
  const kv = await openKv(join(dir, `kv_${files++}.kv`));
  const large = new DenoKVStorage({ kv });
  const small = new DenoKVStorage({ kv, maxEntrySize: 100 * 1024 });
  try {
    const record = patterned(300 * 1024, 7);
    await large.set("k", record, Infinity);
    deepEqual(await small.get("k"), record);
    await small.set("k", patterned(100), Infinity);
    deepEqual(await Array.fromAsync(kv.list({ prefix: [...small.prefix, "chunk"] })), []);
    equal((await large.get("k"))?.length, 100);
  } finally {
    await small.close();
    await large.close();
    kv.close();
  }
});
