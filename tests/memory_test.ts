import { deepEqual, equal, throws } from "node:assert/strict";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { runStorageSuite } from "./_suite/storage_suite.ts";

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
