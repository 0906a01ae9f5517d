import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { existsSync, readFileSync, statSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { CacheBackend } from "../backends/base.ts";
import { SQLITE_TABLE, SQLiteBackend, type SQLiteDatabase, SQLiteStorage } from "../backends/sqlite.ts";
import { runStorageSuite } from "./_suite/storage_suite.ts";
import { tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_sqlite_");
let files = 0;
const paths = new WeakMap<CacheBackend, string>();

function tempPath(): string {
  return `${dir}/cache_${files++}.db`;
}

runStorageSuite({
  name: "sqlite",
  open() {
    const path = tempPath();
    const backend = new SQLiteBackend({ path });
    paths.set(backend, path);
    return Promise.resolve(backend);
  },
  reopen(previous) {
    const path = paths.get(previous)!;
    const backend = new SQLiteBackend({ path });
    paths.set(backend, path);
    return Promise.resolve(backend);
  },
});

runStorageSuite({
  name: "sqlite :memory:",
  open: () => Promise.resolve(new SQLiteBackend({ path: ":memory:" })),
});

function bytes(length: number, fill = length): Uint8Array {
  return new Uint8Array(length).fill(fill & 0xff);
}

async function keys(storage: SQLiteStorage, prefix?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const key of storage.keys(prefix)) out.push(key);
  return out.sort();
}

/** Rows in the table, expired or not. */
function rawKeys(path: string): string[] {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare(`SELECT key FROM ${SQLITE_TABLE} ORDER BY key`).all() as { key: string }[]).map((
      row,
    ) => row.key);
  } finally {
    db.close();
  }
}

Deno.test("sqlite: nothing is opened before the first use", async () => {
  const path = tempPath();
  const storage = new SQLiteStorage({ path });
  equal(existsSync(path), false);
  await storage.close();
  await storage.set("a", bytes(3), Infinity);
  equal(existsSync(path), true);
  await storage.close();
  await storage.close();
});

Deno.test("sqlite: a file that cannot be opened fails each use, and the first use once it can be opens it", async () => {
  const { mkdirSync } = await import("node:fs");
  const folder = `${dir}/not-yet-${files++}`;
  const storage = new SQLiteStorage({ path: `${folder}/cache.db` });
  for (let i = 0; i < 2; i++) {
    // A failed open is not kept: each use tries again (and fails while the folder is missing).
    const failed = await storage.get("k").then(() => undefined, (error: unknown) => error);
    ok(failed instanceof Error, `use ${i + 1} failed`);
  }
  mkdirSync(folder);
  await storage.set("k", bytes(3), Infinity);
  deepEqual(await storage.get("k"), bytes(3));
  await storage.close();
});

Deno.test("sqlite: the table name carries the schema version, in a WAL database", async () => {
  const path = tempPath();
  const storage = new SQLiteStorage({ path });
  await storage.set("a", bytes(3), Infinity);
  await storage.close();
  ok(/_v\d+$/.test(SQLITE_TABLE));
  const db = new DatabaseSync(path);
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    deepEqual(tables.map((table) => table.name), [SQLITE_TABLE]);
    deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
  } finally {
    db.close();
  }
});

Deno.test("sqlite: two instances on one file see each other's writes", async () => {
  const path = tempPath();
  const first = new SQLiteStorage({ path }), second = new SQLiteStorage({ path });
  try {
    await first.set("a", bytes(10), Infinity);
    deepEqual(await second.get("a"), bytes(10));
    await second.set("a", bytes(20), Infinity);
    await second.set("b", bytes(5), Infinity);
    deepEqual(await first.get("a"), bytes(20));
    deepEqual(await keys(first), ["a", "b"]);
    await first.delete(["a"]);
    equal(await second.get("a"), undefined);
    await second.clear();
    deepEqual(await keys(first), []);
  } finally {
    await first.close();
    await second.close();
  }
});

// Workers are separate threads with their own connections: they contend for the file's locks
// like separate processes do, without needing --allow-run. node:worker_threads, because it is
// the worker API that Deno, Node and Bun share.
Deno.test("sqlite: concurrent writers on one file lose nothing", async () => {
  const path = tempPath();
  const count = 150;
  const writers = [1, 2].map((id) => {
    const worker = new Worker(new URL("./_sqlite_writer.ts", import.meta.url), {
      workerData: { path, id, count },
    });
    return new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
      worker.once(
        "exit",
        (code) => reject(new Error(`the writer exited with code ${code} before it was done`)),
      );
    }).finally(() => worker.terminate());
  });
  const storage = new SQLiteStorage({ path });
  try {
    for (let i = 0; i < count; i++) await storage.set(`w0-${i}`, bytes(100, 0), Infinity);
    await Promise.all(writers);
    const found = await keys(storage);
    equal(found.length, 3 * count);
    for (const id of [0, 1, 2]) {
      for (let i = 0; i < count; i++) ok(found.includes(`w${id}-${i}`), `w${id}-${i} is lost`);
    }
    const big = await storage.get("w2-7");
    equal(big?.length, 70_000);
    ok(big.every((byte) => byte === 2));
  } finally {
    await storage.close();
  }
});

Deno.test("sqlite: rows past deleteAt are invisible at once and purged on open", async () => {
  const path = tempPath();
  const storage = new SQLiteStorage({ path });
  await storage.set("gone", bytes(3), Date.now() - 1);
  await storage.set("kept", bytes(3), Date.now() + 60_000);
  await storage.set("forever", bytes(3), Infinity);
  equal(await storage.get("gone"), undefined);
  deepEqual(await keys(storage), ["forever", "kept"]);
  deepEqual(rawKeys(path), ["forever", "gone", "kept"], "not purged on read");
  await storage.close();
  const reopened = new SQLiteStorage({ path });
  deepEqual(await keys(reopened), ["forever", "kept"]);
  deepEqual(rawKeys(path), ["forever", "kept"]);
  await reopened.close();
});

Deno.test("sqlite: keys are listed in pages, past the page size", async () => {
  const storage = new SQLiteStorage({ path: ":memory:" });
  try {
    const all = Array.from({ length: 1234 }, (_, i) => `k${String(i).padStart(4, "0")}`);
    for (const key of all) await storage.set(key, bytes(1), Infinity);
    await storage.set("j", bytes(1), Infinity);
    deepEqual(await keys(storage, "k"), all);
    equal((await keys(storage)).length, 1235);
    deepEqual(await keys(storage, "k01"), all.slice(100, 200));
  } finally {
    await storage.close();
  }
});

Deno.test("sqlite: maxEntries evicts the records deleted soonest, then the oldest", async () => {
  const storage = new SQLiteStorage({ path: ":memory:", maxEntries: 3 });
  try {
    const soon = Date.now() + 60_000;
    await storage.set("a", bytes(1), Infinity);
    await storage.set("b", bytes(1), soon + 1000);
    await storage.set("c", bytes(1), soon);
    await storage.set("d", bytes(1), Infinity);
    deepEqual(await keys(storage), ["a", "b", "d"]);
    await storage.set("e", bytes(1), Infinity);
    deepEqual(await keys(storage), ["a", "d", "e"]);
    await storage.set("a", bytes(2), Infinity);
    await storage.set("f", bytes(1), Infinity);
    deepEqual(await keys(storage), ["a", "e", "f"], "a rewritten record is young again");
  } finally {
    await storage.close();
  }
});

Deno.test("sqlite: maxBytes evicts until the records fit, and refuses a larger record", async () => {
  const storage = new SQLiteStorage({ path: ":memory:", maxBytes: 100 });
  try {
    await storage.set("a", bytes(40), Infinity);
    await storage.set("b", bytes(40), Infinity);
    await storage.set("c", bytes(30), Infinity);
    deepEqual(await keys(storage), ["b", "c"]);
    await storage.set("d", bytes(100), Infinity);
    deepEqual(await keys(storage), ["d"]);
    await storage.set("d", bytes(101), Infinity);
    deepEqual(await keys(storage), [], "a refused write replaces the old record");
  } finally {
    await storage.close();
  }
});

Deno.test("sqlite: maxEntries is checked once every 1/64 of the records written, and an eviction makes room for a sixteenth", async () => {
  const storage = new SQLiteStorage({ path: ":memory:", maxEntries: 640 });
  try {
    let most = 0, least = Infinity;
    for (let i = 0; i < 2000; i++) {
      await storage.set(`k${i}`, bytes(8), Infinity);
      const count = (await keys(storage)).length;
      most = Math.max(most, count);
      if (i >= 1000) least = Math.min(least, count);
    }
    ok(most <= 640 + 10 + 1, `at most 1/64 over: ${most}`);
    ok(least >= 600 - 1, `at least a sixteenth under: ${least}`);
    ok((await keys(storage)).includes("k1999"), "the newest record stays");
  } finally {
    await storage.close();
  }
});

Deno.test("sqlite: a record above maxEntrySize is refused silently", async () => {
  // try/finally, not `await using`: Node 22 cannot parse `using` declarations.
  const cache = new SQLiteBackend({ path: ":memory:", maxEntrySize: 10 });
  try {
    await cache.storage.set("a", bytes(10), Infinity);
    deepEqual(await cache.storage.get("a"), bytes(10));
    await cache.storage.set("a", bytes(11), Infinity);
    equal(await cache.storage.get("a"), undefined);
  } finally {
    await cache.close();
  }
});

Deno.test("sqlite: clear() gives the file's space back, and leaves none of the stored bytes in it", async () => {
  const path = tempPath();
  const storage = new SQLiteStorage({ path });
  const secret = new TextEncoder().encode("a-stored-secret-".repeat(64));
  for (let i = 0; i < 200; i++) {
    await storage.set(`k${i}`, new Uint8Array([...secret, ...bytes(20_000, i)]), Infinity);
  }
  const size = () =>
    ["", "-wal"].reduce((sum, end) => sum + (existsSync(path + end) ? statSync(path + end).size : 0), 0);
  ok(size() > 4_000_000, `filled: ${size()} bytes`);
  // Another connection reads between the writes and the clear, as another process would.
  const reader = new DatabaseSync(path);
  equal((reader.prepare(`SELECT count(*) AS n FROM ${SQLITE_TABLE}`).get() as { n: number }).n, 200);
  await storage.clear();
  deepEqual(await keys(storage), []);
  ok(size() < 200_000, `after clear(): ${size()} bytes`); // (a few 32 KiB pages)
  const text = ["", "-wal"].map((end) =>
    existsSync(path + end) ? readFileSync(path + end).toString("latin1") : ""
  );
  equal(text.some((part) => part.includes("a-stored-secret-")), false);
  // The file is in use as before.
  await storage.set("after", bytes(3), Infinity);
  deepEqual(await storage.get("after"), bytes(3));
  reader.close();
  await storage.close();
});

Deno.test("sqlite: an injected database gets the table and is left open", async () => {
  const db = new DatabaseSync(":memory:");
  const storage = new SQLiteStorage({ database: db as unknown as SQLiteDatabase });
  await storage.set("a", bytes(3), Infinity);
  await storage.close();
  deepEqual({ ...db.prepare(`SELECT count(*) AS n FROM ${SQLITE_TABLE}`).get() }, { n: 1 });
  const again = new SQLiteStorage({ database: db as unknown as SQLiteDatabase });
  deepEqual(await again.get("a"), bytes(3));
  await again.close();
  db.close();
});

Deno.test("sqlite: bad options fail at construction, naming the option", () => {
  for (const option of ["maxEntrySize", "maxEntries", "maxBytes"] as const) {
    for (const value of [0, -1, 1.5, NaN]) {
      throws(() => new SQLiteBackend({ [option]: value }), {
        name: "RangeError",
        message: `Cannot create SQLiteBackend: ${option} must be a positive integer: received ${value}`,
      });
    }
  }
  for (const value of [-1, 1.5, NaN]) {
    throws(() => new SQLiteBackend({ busyTimeout: value }), {
      name: "RangeError",
      message: `Cannot create SQLiteBackend: busyTimeout must be a non-negative integer: received ${value}`,
    });
  }
  throws(() => new SQLiteBackend({ path: "" }), {
    name: "TypeError",
    message: 'Cannot create SQLiteBackend: path must be a non-empty string: received ""',
  });
});

Deno.test("sqlite: maxBytes is checked by the bytes written too: larger records after many small ones pass it by 1/64 and a record at most", async () => {
  const maxBytes = 1 << 20;
  const storage = new SQLiteStorage({ path: ":memory:", maxBytes });
  try {
    const stored = async () => {
      let total = 0;
      for await (const key of storage.keys()) total += (await storage.get(key))!.length;
      return total;
    };
    // 12,800 small records (800 KiB, under the bound): the next check was 200 writes away.
    for (let i = 0; i < 12_800; i++) await storage.set(`s${i}`, bytes(64), Infinity);
    let most = 0;
    for (let i = 0; i < 40; i++) {
      await storage.set(`large${i}`, bytes(256 * 1024), Infinity);
      most = Math.max(most, await stored());
    }
    ok(most <= maxBytes + maxBytes / 64 + 256 * 1024, `at most 1/64 and one record over: ${most}`);
  } finally {
    await storage.close();
  }
});

Deno.test("sqlite: a table far over maxEntries when opened is checked as often as one at the bound", async () => {
  const database = new DatabaseSync(":memory:") as unknown as SQLiteDatabase;
  const unbounded = new SQLiteStorage({ database });
  for (let i = 0; i < 6_400; i++) await unbounded.set(`old${i}`, bytes(1), Infinity);
  // The same table opened with a bound 64 times smaller (a process started with a new setting).
  const storage = new SQLiteStorage({ database, maxEntries: 100 });
  try {
    let most = 0;
    for (let i = 0; i < 300; i++) {
      await storage.set(`new${i}`, bytes(1), Infinity);
      let count = 0;
      for await (const _ of storage.keys()) count++;
      if (i > 0) most = Math.max(most, count);
    }
    ok(most <= 100 + 2 + 1, `at most 1/64 over: ${most}`);
  } finally {
    await storage.close();
    (database as unknown as DatabaseSync).close();
  }
});

Deno.test("sqlite: a file the backend creates has 16 KiB pages (fewer reads of a large body); one that exists keeps its own", async () => {
  const created = tempPath();
  const storage = new SQLiteStorage({ path: created });
  await storage.set("a", bytes(3), Infinity);
  await storage.close();
  const existing = tempPath();
  const other = new DatabaseSync(existing);
  other.exec("PRAGMA page_size = 4096; CREATE TABLE mine (a)");
  other.close();
  const beside = new SQLiteStorage({ path: existing });
  await beside.set("a", bytes(3), Infinity);
  await beside.close();
  const pageSize = (path: string) => {
    const db = new DatabaseSync(path);
    const { page_size } = db.prepare("PRAGMA page_size").get() as { page_size: number };
    db.close();
    return page_size;
  };
  deepEqual([pageSize(created), pageSize(existing)], [16384, 4096]);
});
