import { deepEqual, equal, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DenoKVBackend, DenoKVStorage, type KvKey, type KvLike } from "../backends/deno_kv.ts";
import type { CacheBackend } from "../backends/base.ts";
import { runStorageSuite } from "./_suite/storage_suite.ts";
import { type Kv, openKv } from "./_fixtures.ts";
import { tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_kv_");
let files = 0;
const paths = new WeakMap<CacheBackend, string>();

function tempPath(): string {
  return join(dir, `cache_${files++}.kv`);
}

runStorageSuite({
  name: "deno-kv",
  open() {
    const path = tempPath();
    const backend = new DenoKVBackend({ path });
    paths.set(backend, path);
    return Promise.resolve(backend);
  },
  reopen(previous) {
    const path = paths.get(previous)!;
    const backend = new DenoKVBackend({ path });
    paths.set(backend, path);
    return Promise.resolve(backend);
  },
});

/** Opens a storage on a fresh file, runs `test`, closes and removes everything. */
function withStorage(
  test: (storage: DenoKVStorage, kv: Kv) => Promise<void>,
  options: { prefix?: string[] } = {},
): () => Promise<void> {
  return async () => {
    const path = tempPath();
    const kv = await openKv(path);
    const storage = new DenoKVStorage({ kv, ...options });
    try {
      await test(storage, kv);
    } finally {
      await storage.close();
      kv.close();
    }
  };
}

function bytes(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) % 251;
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function rawKeys(kv: Kv, prefix: KvKey): Promise<KvKey[]> {
  const keys: KvKey[] = [];
  for await (const { key } of kv.list({ prefix })) keys.push(key);
  return keys;
}

const KiB = 1024;
const MiB = 1024 * KiB;

Deno.test(
  "DenoKVStorage round-trips records around the value and commit limits",
  withStorage(async (storage, kv) => {
    for (const size of [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, MiB, 20 * MiB]) {
      const value = bytes(size, size);
      await storage.set(`k${size}`, value, Infinity);
      const read = await storage.get(`k${size}`);
      assert(read !== undefined, `record of ${size} bytes is missing`);
      equal(read.length, size);
      assert(same(read, value), `record of ${size} bytes differs`);
    }
    await storage.delete([
      "k0",
      "k1",
      `k${64 * KiB - 1}`,
      `k${64 * KiB}`,
      `k${64 * KiB + 1}`,
      `k${MiB}`,
      `k${20 * MiB}`,
    ]);
    deepEqual(await rawKeys(kv, storage.prefix), []);
  }),
);

Deno.test(
  "DenoKVStorage readers racing a writer see one version whole, never a mix",
  withStorage(async (storage, kv) => {
    const versions = [bytes(300 * KiB, 1), bytes(300 * KiB, 2), bytes(150 * KiB, 3)];
    await storage.set("race", versions[0]!, Infinity);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 60; i++) await storage.set("race", versions[i % versions.length]!, Infinity);
      writing = false;
    })();
    const seen = new Set<number>();
    const reader = async () => {
      while (writing) {
        const read = await storage.get("race");
        assert(read !== undefined, "an overwritten entry read as a miss");
        const version = versions.findIndex((value) => same(read, value));
        assert(version !== -1, "a reader saw a mix of two versions");
        seen.add(version);
      }
    };
    await Promise.all([writer, reader(), reader(), reader()]);
    assert(seen.size > 1, "the readers never overlapped the writer");
    const keys = await rawKeys(kv, [...storage.prefix, "chunk"]);
    equal(keys.length, 5, "old generations were not deleted");
  }),
);

Deno.test(
  "DenoKVStorage reads a record whose chunks were lost or damaged as a miss, never in part",
  withStorage(async (storage, kv) => {
    // KV deletes each key on its own schedule (expireIn), and a key can be lost or rewritten by
    // hand: whatever happened to one chunk, a read gets the whole body or nothing.
    // (KV lists keys in order: a record's chunks by their index.)
    const chunkKeys = async (key: string) => {
      // (Chunks are keyed by the generation that the manifest names: u8 length at 20, then it.)
      const manifest = (await kv.get([...storage.prefix, "entry", key])).value as Uint8Array;
      const generation = new TextDecoder().decode(manifest.subarray(21, 21 + manifest[20]!));
      return rawKeys(kv, [...storage.prefix, "chunk", generation]);
    };
    const damages: [string, (chunks: KvKey[]) => Promise<unknown>][] = [
      ["a middle chunk lost", (chunks) => kv.atomic().delete(chunks[1]!).commit()],
      ["the last chunk lost", (chunks) => kv.atomic().delete(chunks.at(-1)!).commit()],
      ["a chunk grown by a byte", async (chunks) => {
        const { value } = await kv.get(chunks[0]!);
        await kv.set(chunks[0]!, Uint8Array.of(...(value as Uint8Array), 0));
      }],
      ["a chunk under another index", async (chunks) => {
        // As many chunks and bytes as the manifest says, in another order.
        const { value } = await kv.get(chunks[1]!);
        await kv.atomic().delete(chunks[1]!).commit();
        await kv.set([...chunks[1]!.slice(0, -1), chunks.length], value);
      }],
      ["a chunk cut short", async (chunks) => {
        const { value } = await kv.get(chunks.at(-1)!);
        await kv.set(chunks.at(-1)!, (value as Uint8Array).subarray(1));
      }],
    ];
    for (const [label, damage] of damages) {
      await storage.set(label, bytes(200 * KiB, 7), Infinity);
      const chunks = await chunkKeys(label);
      assert(chunks.length > 2, `${label}: the record is chunked`);
      await damage(chunks);
      equal(await storage.get(label), undefined, label);
    }
    // An intact record beside them still reads whole.
    await storage.set("intact", bytes(200 * KiB, 8), Infinity);
    assert(same((await storage.get("intact"))!, bytes(200 * KiB, 8)));
  }),
);

Deno.test(
  "DenoKVStorage keeps a chunked record under a key close to KV's 2 KiB key limit",
  withStorage(async (storage) => {
    // A chunk's key does not repeat the record's: a long key (a `keyFn`'s) is no longer than
    // its manifest's, and twelve chunks still fit a commit.
    for (const length of [1_850, 1_990]) {
      const key = "k".repeat(length);
      await storage.set(key, bytes(800 * KiB, length % 256), Infinity);
      assert(same((await storage.get(key))!, bytes(800 * KiB, length % 256)), `a ${length}-character key`);
    }
  }),
);

Deno.test(
  "DenoKVStorage reads a manifest past deleteAt as a miss before KV deletes it",
  withStorage(async (storage, kv) => {
    const realNow = Date.now;
    const start = realNow();
    await storage.set("small", bytes(10), start + 1000);
    await storage.set("large", bytes(200 * KiB), start + 1000);
    try {
      Date.now = () => start + 2000;
      equal(await storage.get("small"), undefined);
      equal(await storage.get("large"), undefined);
      deepEqual(await Array.fromAsync(storage.keys()), []);
    } finally {
      Date.now = realNow;
    }
    assert((await kv.get([...storage.prefix, "entry", "small"])).versionstamp !== null);
    await storage.set("far", bytes(10), 8e15);
    equal((await storage.get("far"))?.length, 10);
    await storage.set("gone", bytes(10), start - 1);
    equal((await kv.get([...storage.prefix, "entry", "gone"])).versionstamp, null);
  }),
);

Deno.test(
  "DenoKVStorage keeps the schema version in the key prefix",
  withStorage(async (storage, kv) => {
    deepEqual(storage.prefix, ["http_cache", "v1"]);
    await storage.set("a", bytes(100 * KiB), Infinity);
    const other = new DenoKVStorage({ kv, prefix: ["http_cache", "v2"] });
    await other.set("a", bytes(10), Infinity);
    equal(await other.get("a").then((value) => value?.length), 10);
    equal(await storage.get("a").then((value) => value?.length), 100 * KiB);
    const keys = await rawKeys(kv, ["http_cache", "v1"]);
    assert(keys.some((key) => key[2] === "entry" && key[3] === "a"));
    await storage.clear();
    deepEqual(await rawKeys(kv, ["http_cache", "v1"]), []);
    equal((await other.get("a"))?.length, 10);
    await other.close();
  }),
);

Deno.test(
  "DenoKVStorage lists keys by prefix and leaves an injected kv open",
  withStorage(async (storage, kv) => {
    for (const key of ["ab", "abc", "b", "~ab"]) await storage.set(key, bytes(5), Infinity);
    deepEqual((await Array.fromAsync(storage.keys("ab"))).sort(), ["ab", "abc"]);
    deepEqual((await Array.fromAsync(storage.keys())).sort(), ["ab", "abc", "b", "~ab"]);
    await storage.close();
    assert((await kv.get([...storage.prefix, "entry", "b"])).versionstamp !== null);
  }),
);

Deno.test(
  "DenoKVStorage deletes a corrupt manifest and reports it",
  withStorage(async (storage, kv) => {
    await kv.set([...storage.prefix, "entry", "bad"], new Uint8Array([1, 2, 3]));
    await rejects(storage.get("bad"), SyntaxError);
    equal((await kv.get([...storage.prefix, "entry", "bad"])).versionstamp, null);
  }),
);

Deno.test("DenoKVStorage refuses entries above maxEntrySize", async () => {
  const kv = await openKv(":memory:");
  const storage = new DenoKVStorage({ kv, maxEntrySize: 1000 });
  await storage.set("a", bytes(100), Infinity);
  await storage.set("a", bytes(1001), Infinity);
  equal(await storage.get("a"), undefined);
  kv.close();
});

Deno.test("DenoKVBackend validates its options", () => {
  throws(() => new DenoKVBackend({ maxEntrySize: 0 }), RangeError);
  throws(() => new DenoKVBackend({ prefix: [] }), TypeError);
});

Deno.test("DenoKVBackend opens lazily and reports a bad path on first use", async () => {
  const backend = new DenoKVBackend({ path: "/nonexistent/dir/cache.kv" });
  await rejects(backend.count());
  await backend.close();
});

Deno.test(
  "DenoKVStorage waits for a write lock that another process holds for a second",
  async () => {
    // Another process sharing the file (its large write, or its commits back to back) can hold
    // the write lock for a second: KV fails a commit at once then, and the backend must wait
    // for the lock as SQLiteBackend does (busyTimeout), not lose the write or the delete.
    const path = tempPath();
    const kv = await openKv(path);
    const storage = new DenoKVStorage({ kv });
    try {
      await storage.set("kept", bytes(10), Infinity);
      for (
        const [label, run] of [
          ["a write", () => storage.set("small", bytes(100), Infinity)],
          ["a chunked write", () => storage.set("large", bytes(200 * KiB, 5), Infinity)],
          ["a delete", () => storage.delete(["kept"])],
        ] as const
      ) {
        const other = new DatabaseSync(path);
        other.exec("BEGIN IMMEDIATE");
        const released = new Promise<void>((resolve) =>
          setTimeout(() => {
            other.exec("COMMIT");
            other.close();
            resolve();
          }, 1000)
        );
        try {
          await run();
        } catch (error) {
          throw new Error(`${label} failed while another handle held the lock for 1 s`, { cause: error });
        } finally {
          await released;
        }
      }
      equal((await storage.get("small"))?.length, 100);
      assert(same((await storage.get("large"))!, bytes(200 * KiB, 5)));
      equal(await storage.get("kept"), undefined);
    } finally {
      await storage.close();
      kv.close();
    }
  },
);

Deno.test("DenoKVStorage deletes a record that other writers rewrite between each read and commit", async () => {
  // Another process writing the same key at every turn (a hot URL): each conditional delete
  // finds the key changed. The delete must still remove it, not fail after a few tries.
  const kv = await openKv(":memory:");
  const raced: KvLike = {
    get: async (key) => {
      const read = await kv.get(key);
      if (key.at(-2) === "entry") await new DenoKVStorage({ kv }).set("hot", bytes(10, 9), Infinity);
      return read;
    },
    list: (selector, options) => kv.list(selector, options),
    atomic: () => kv.atomic(),
    close: () => {},
  };
  const storage = new DenoKVStorage({ kv: raced });
  try {
    await new DenoKVStorage({ kv }).set("hot", bytes(10), Infinity);
    await storage.delete(["hot"]);
    equal((await kv.get([...storage.prefix, "entry", "hot"])).versionstamp, null);
  } finally {
    kv.close();
  }
});
