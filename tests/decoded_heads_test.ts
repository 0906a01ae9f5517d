/**
 * Records read as copies (SQLite, Redis, MongoDB, Deno KV hand out new bytes on every read): from
 * a record's second read on, the part before its body is compared with the one kept instead of
 * decoded again. These tests hold that nothing but identical, intact metadata is ever taken from
 * what was kept, and that each read's body is the bytes that read handed out.
 *
 * @module
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { BackendError, CacheBackend } from "../mod.ts";
import { MemoryStorage } from "../backends/memory.ts";
import type { CacheEntry } from "../src/record.ts";
import { currentAge } from "../src/policy.ts";
import { testEntry } from "./_entry.ts";

/** Keeps records like the memory store, but hands out a new copy on every read, maybe damaged. */
class CopyingStorage extends MemoryStorage {
  override readonly keepsValues = false;
  readonly copiesValues = true;
  damage: ((bytes: Uint8Array) => Uint8Array) | undefined;

  override async get(key: string): Promise<Uint8Array | undefined> {
    const stored = await super.get(key);
    if (stored === undefined) return undefined;
    return this.damage === undefined ? stored.slice() : this.damage(stored.slice());
  }
}

function entry(date: string, fill = 7): CacheEntry {
  return testEntry({
    headers: [["cache-control", "max-age=60"], ["date", date]],
    body: new Uint8Array(300).fill(fill),
  });
}

async function readEntry(backend: CacheBackend): Promise<CacheEntry> {
  const read = await backend.read("k");
  ok(read !== undefined && "entry" in read);
  return read.entry;
}

Deno.test("decoded heads: from its second read on, a copied record's metadata is decoded once; each read's body is the bytes it read", async () => {
  const backend = new CacheBackend(new CopyingStorage());
  await backend.write("k", entry("Fri, 04 Dec 2026 10:00:00 GMT"), Infinity);
  const reads = [await readEntry(backend), await readEntry(backend), await readEntry(backend)];
  ok(reads[0]!.headers !== reads[1]!.headers, "a key read once is not kept (it may never be read again)");
  equal(reads[2]!.headers, reads[1]!.headers, "the third read takes the kept metadata");
  ok(reads[2]!.body.buffer !== reads[1]!.body.buffer, "with the body of the bytes it read");
  for (const read of reads) {
    deepEqual(read.headers, entry("Fri, 04 Dec 2026 10:00:00 GMT").headers);
    deepEqual(read.body, new Uint8Array(300).fill(7));
  }
  // Same length, other metadata (a newer Date): decoded anew.
  await backend.write("k", entry("Fri, 04 Dec 2026 11:00:00 GMT", 8), Infinity);
  const replaced = await readEntry(backend);
  deepEqual(replaced.headers[1], ["date", "Fri, 04 Dec 2026 11:00:00 GMT"]);
  deepEqual(replaced.body, new Uint8Array(300).fill(8));
  await backend.close();
});

// The heads kept are bounded in bytes, not only in number: 1,024 heads of records just under
// 64 KiB (large fields: cookies, CSP, link lists) would else hold some 64 MiB.
Deno.test("decoded heads: those kept weigh 2 MiB at most, however large each one is", async () => {
  const backend = new CacheBackend(new CopyingStorage());
  const large = (i: number) =>
    testEntry({
      url: `https://example.com/${i}`,
      headers: [["cache-control", "max-age=60"], ["x-large", `${i}`.padEnd(40_000, "x")]],
      body: new Uint8Array(10),
    });
  const read = async (key: string) => {
    const found = await backend.read(key);
    ok(found !== undefined && "entry" in found);
    return found.entry.headers;
  };
  for (let i = 0; i < 64; i++) await backend.write(`k${i}`, large(i), Infinity);
  for (let i = 0; i < 64; i++) await read(`k${i}`);
  // Each kept from its second read on, until 2 MiB of heads are kept (64 × 40 KB is 2.4 MiB).
  const second: [string, string][][] = [];
  for (let i = 0; i < 64; i++) second.push(await read(`k${i}`));
  equal(await read("k63"), second[63], "the last head read is kept");
  ok(await read("k0") !== second[0], "the first is no longer kept");
  await backend.close();
});

Deno.test("decoded heads: the initial age of kept metadata is its own, and no entry with other times takes it", async () => {
  const backend = new CacheBackend(new CopyingStorage());
  // Dated 30 s before it arrived, after 2 s on the way: 30 s old when it arrived (RFC 9111 §4.2.3).
  const date = Date.parse("Fri, 04 Dec 2026 10:00:00 GMT");
  const arrived = date + 30_000;
  const stored = {
    ...entry(new Date(date).toUTCString()),
    requestTime: arrived - 2_000,
    responseTime: arrived,
  };
  await backend.write("k", stored, Infinity);
  const reads = [await readEntry(backend), await readEntry(backend), await readEntry(backend)];
  equal(reads[2]!.headers, reads[1]!.headers, "the third read takes the kept metadata");
  for (const read of reads) equal(currentAge(read, arrived + 5_000), 35);
  // The same fields with other times (a revalidation gives new fields as well; nothing may rely on it).
  const later = { ...reads[2]!, requestTime: arrived + 60_000, responseTime: arrived + 60_000 };
  equal(currentAge(later, arrived + 60_000), 90);
  await backend.close();
});

Deno.test("decoded heads: damaged metadata, or a record cut short or run on, is never taken from what was kept", async () => {
  const damages: [string, (bytes: Uint8Array) => Uint8Array][] = [
    ["a metadata byte changed", (bytes) => (bytes[12]! ^= 1, bytes)],
    ["cut short by a byte", (bytes) => bytes.subarray(0, bytes.length - 1)],
    ["one byte more", (bytes) => Uint8Array.of(...bytes, 0)],
  ];
  for (const [label, damage] of damages) {
    const storage = new CopyingStorage();
    const backend = new CacheBackend(storage);
    await backend.write("k", entry("Fri, 04 Dec 2026 10:00:00 GMT"), Infinity);
    for (let i = 0; i < 3; i++) await readEntry(backend);
    storage.damage = damage;
    await rejects(
      backend.read("k"),
      (error) => error instanceof BackendError && /corrupt/.test(error.message),
      label,
    );
    equal(await storage.get("k"), undefined, `${label}: the corrupt record was deleted`);
    await backend.close();
  }
});
