import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { DECODED_RECORDS, DecodedRecords } from "../src/decoded_records.ts";
import { CachedSession } from "../mod.ts";
import { Clock, origin, reply } from "./_origin.ts";
import { runStorageSuite } from "./_suite/storage_suite.ts";
import { testEntry } from "./_entry.ts";
import { encodeEntry } from "../src/record.ts";

runStorageSuite({ name: "memory", open: () => Promise.resolve(new MemoryBackend()) });

function bytes(length: number): Uint8Array {
  return new Uint8Array(length).fill(length & 0xff);
}

async function keys(storage: MemoryStorage): Promise<string[]> {
  const out: string[] = [];
  for await (const key of storage.keys()) out.push(key);
  return out;
}

Deno.test("memory: maxEntries evicts the least recently used record", async () => {
  const storage = new MemoryStorage({ maxEntries: 3 });
  for (const key of ["a", "b", "c"]) await storage.set(key, bytes(1), Infinity);
  await storage.get("a");
  await storage.set("d", bytes(1), Infinity);
  deepEqual((await keys(storage)).sort(), ["a", "c", "d"]);
  await storage.set("c", bytes(2), Infinity);
  await storage.set("e", bytes(1), Infinity);
  deepEqual((await keys(storage)).sort(), ["c", "d", "e"]);
});

Deno.test("memory: eviction follows a reference LRU through random sets, gets and deletes", async () => {
  // Seeded, so a failure replays; bounds small enough to evict often, keys enough to outgrow the
  // storage's initial room for 64 slots.
  let seed = 0x2545f491;
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  for (const bounds of [{ maxEntries: 16, maxBytes: 1000 }, { maxEntries: 100, maxBytes: 600 }]) {
    const storage = new MemoryStorage(bounds);
    // Least recently used first, as [key, size].
    const model: [string, number][] = [];
    const size = () => model.reduce((sum, [, length]) => sum + length, 0);
    for (let op = 0; op < 5000; op++) {
      const key = `k${random(300)}`;
      const at = model.findIndex(([name]) => name === key);
      const action = random(10);
      if (action < 5) {
        const length = 1 + random(40);
        await storage.set(key, bytes(length), Infinity);
        if (at >= 0) model.splice(at, 1);
        model.push([key, length]);
        while (model.length > bounds.maxEntries || size() > bounds.maxBytes) model.shift();
      } else if (action < 9) {
        const found = await storage.get(key);
        equal(found?.length, at >= 0 ? model[at]![1] : undefined, `get ${key} at op ${op}`);
        if (at >= 0) model.push(...model.splice(at, 1));
      } else {
        await storage.delete([key]);
        if (at >= 0) model.splice(at, 1);
      }
      equal(storage.bytes, size(), `bytes at op ${op}`);
    }
    deepEqual((await keys(storage)).sort(), model.map(([key]) => key).sort());
  }
});

Deno.test("memory: maxBytes evicts until the records fit", async () => {
  const storage = new MemoryStorage({ maxBytes: 100 });
  await storage.set("a", bytes(40), Infinity);
  await storage.set("b", bytes(40), Infinity);
  await storage.get("a");
  await storage.set("c", bytes(30), Infinity);
  deepEqual((await keys(storage)).sort(), ["a", "c"]);
  equal(storage.bytes, 70);
  await storage.set("d", bytes(100), Infinity);
  deepEqual(await keys(storage), ["d"]);
  equal(storage.bytes, 100);
  await storage.set("e", bytes(101), Infinity);
  deepEqual(await keys(storage), ["d"], "a record larger than maxBytes is refused");
  await storage.delete(["d"]);
  equal(storage.bytes, 0);
});

Deno.test("memory: a record above maxEntrySize is refused and replaces the old one", async () => {
  const storage = new MemoryStorage({ maxEntrySize: 10 });
  await storage.set("a", bytes(10), Infinity);
  deepEqual(await storage.get("a"), bytes(10));
  await storage.set("a", bytes(11), Infinity);
  equal(await storage.get("a"), undefined);
  equal(storage.bytes, 0);
});

Deno.test("memory: a record past deleteAt is gone", async () => {
  const storage = new MemoryStorage();
  await storage.set("a", bytes(5), Date.now() - 1);
  equal(await storage.get("a"), undefined);
  equal(storage.bytes, 0);
});

Deno.test("memory: a record past deleteAt is not listed, as on the other backends", async () => {
  const storage = new MemoryStorage();
  await storage.set("gone", bytes(5), Date.now() + 20);
  await storage.set("kept", bytes(5), Infinity);
  await new Promise((resolve) => setTimeout(resolve, 40));
  deepEqual(await Array.fromAsync(storage.keys()), ["kept"]);
});

Deno.test("memory: bad bounds fail at construction, naming the option", () => {
  for (const option of ["maxEntries", "maxBytes", "maxEntrySize"] as const) {
    for (const value of [0, -1, 1.5, NaN, Infinity]) {
      throws(() => new MemoryBackend({ [option]: value }), {
        name: "RangeError",
        message: `Cannot create MemoryBackend: ${option} must be a positive integer: received ${value}`,
      });
    }
  }
  equal(new MemoryStorage({ maxEntries: 1 }).maxEntries, 1);
});

/** Bodies of a small record and of a large one (64 KiB or more: kept decoded while stored). */
const RECORD_SIZES = [[100, "small"], [100_000, "large"]] as const;

for (const [size, label] of RECORD_SIZES) {
  const from = label === "small" ? "its second read" : "its first read";
  Deno.test(`memory: a ${label} record is kept decoded from ${from} on, and a replaced one is read anew`, async () => {
    const backend = new MemoryBackend();
    const entry = (fill: number) =>
      testEntry({ headers: [["cache-control", "max-age=60"]], body: new Uint8Array(size).fill(fill) });
    const readEntry = async () => {
      const read = await backend.read("k");
      ok(read !== undefined && "entry" in read);
      return read.entry;
    };
    await backend.write("k", entry(1), Infinity);
    const reads = [await readEntry(), await readEntry(), await readEntry()];
    if (label === "small") {
      ok(reads[0] !== reads[1], "a key read once is not kept (it may never be read again)");
    } else equal(reads[0], reads[1], "the second read reuses the decoded entry");
    equal(reads[1], reads[2], "the third read reuses the decoded entry");
    await backend.write("k", entry(2), Infinity);
    deepEqual((await readEntry()).body, new Uint8Array(size).fill(2));
    await backend.close();
  });
}

Deno.test("memory: keys read once each (a large store visited at random) never push the hot records out", async () => {
  const backend = new MemoryBackend();
  const entryOf = async (key: string) => {
    const read = await backend.read(key);
    ok(read !== undefined && "entry" in read);
    return read.entry;
  };
  await backend.write("hot", testEntry(), Infinity);
  await entryOf("hot");
  const hot = await entryOf("hot");
  const once = Array.from({ length: 3 * DECODED_RECORDS }, (_, i) => `once-${i}`);
  for (const key of once) await backend.write(key, testEntry(), Infinity);
  for (const key of once) await entryOf(key);
  equal(await entryOf("hot"), hot, "the hot record is still kept decoded");
  await backend.close();
});

for (const [size, label] of RECORD_SIZES) {
  Deno.test(`memory: serving a shared decoded ${label} entry never changes it (conditional, range, HEAD, revalidation)`, async () => {
    const clock = new Clock();
    const headers = { "cache-control": "max-age=60", etag: '"v1"', "content-type": "text/plain" };
    const o = origin((request) =>
      request.headers.get("if-none-match") === '"v1"'
        ? reply(null, { ...headers, "x-revalidated": "yes" }, { status: 304, clock })
        : reply("0123456789".repeat(size / 10), headers, { clock })
    );
    const session = new CachedSession({ fetch: o.fetch, now: () => clock.now });
    const url = "http://127.0.0.1/shared";
    await (await session.fetch(url)).text();
    const key = (await session.fetch(url)).cacheKey!;
    const read = await session.cache.read(key);
    ok(read !== undefined && "entry" in read);
    const before = structuredClone(read.entry);
    await (await session.fetch(url, { headers: { "if-none-match": '"v1"' } })).text();
    await (await session.fetch(url, { headers: { range: "bytes=2-4" } })).text();
    await (await session.fetch(url, { method: "HEAD" })).text();
    clock.now += 120_000;
    const revalidated = await session.fetch(url);
    equal(revalidated.revalidated, true);
    await revalidated.text();
    deepEqual(read.entry, before, "the entry every read shared is as it was decoded");
    await session.close();
  });
}

Deno.test("memory: the decoded forms kept of hot records keep 2 MiB of records alive at most, let go of ones too", () => {
  // A kept decoded record's body is a view into its record: kept, it would outlive the storage's
  // bounds (1,024 of 60 KB records are 60 MiB).
  const records = new DecodedRecords();
  const bytes = Array.from(
    { length: 100 },
    (_, i) => encodeEntry(testEntry({ url: `https://example.com/${i}`, body: new Uint8Array(60 * 1024) })),
  );
  const first = () => records.decode("k0", bytes[0]!);
  first();
  const kept = first(); // kept from its second read on
  ok(first() === kept);
  for (let i = 1; i < bytes.length; i++) {
    records.decode(`k${i}`, bytes[i]!);
    records.decode(`k${i}`, bytes[i]!);
  }
  ok(first() !== kept, "the first record's decoded form was let go of for later ones");
});
