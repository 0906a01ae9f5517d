/**
 * The SQLite backend, a second hunt: real files, expired rows in bulk.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { statSync } from "node:fs";
import { join } from "node:path";
import { SQLITE_TABLE, SQLiteStorage } from "../backends/sqlite.ts";
import { tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_sqlite2_hunt_");

/** The rows of a file, expired ones too, counted by another connection. */
function rows(path: string): { expired: number; live: number } {
  const db = new DatabaseSync(path);
  try {
    const count = (where: string) =>
      (db.prepare(`SELECT count(*) AS n FROM ${SQLITE_TABLE} WHERE ${where}`).get(Date.now()) as {
        n: number;
      }).n;
    return { expired: count("delete_at <= ?"), live: count("coalesce(delete_at > ?, 1)") };
  } finally {
    db.close();
  }
}

// Was: expired rows were purged in one statement, on open and every 500 writes, however many there
// were. A file left for a day comes back with every row expired: a million 1 KB rows took 4.8 s to
// purge (Node 24), during which the first request and every other one of the process waited, and
// another process's writes waited for the lock until their busyTimeout (5 s) nearly ran out.
Deno.test("sqlite: expired rows are purged a thousand at a time, on open and then at each write until none is left", async () => {
  const path = join(dir, `purge_${crypto.randomUUID()}.db`);
  const created = new SQLiteStorage({ path });
  await created.set("kept", new Uint8Array(10), Infinity);
  await created.close();
  const db = new DatabaseSync(path);
  db.exec("BEGIN");
  const insert = db.prepare(`INSERT INTO ${SQLITE_TABLE} (key, delete_at, size, value) VALUES (?, ?, 10, ?)`);
  for (let i = 0; i < 3500; i++) insert.run(`gone${i}`, Date.now() - 1000, new Uint8Array(10));
  db.exec("COMMIT");
  db.close();
  const storage = new SQLiteStorage({ path });
  try {
    deepEqual(await storage.get("kept"), new Uint8Array(10));
    deepEqual(rows(path), { expired: 2500, live: 1 }, "opening purged one batch");
    for (const [i, expired] of [1500, 500, 0, 0].entries()) {
      await storage.set(`new${i}`, new Uint8Array(10), Infinity);
      deepEqual(rows(path), { expired, live: 2 + i }, `after write ${i + 1}`);
    }
    const listed: string[] = [];
    for await (const key of storage.keys()) listed.push(key);
    equal(listed.length, 5);
  } finally {
    await storage.close();
  }
});

// Was: the WAL file kept the size of the largest write ever made (no journal_size_limit): a 20 MB
// body left a 20 MB `-wal` file beside the database after it was checkpointed, and after it was
// deleted, until clear(): the largest body a cache ever stored took its room on disk twice.
Deno.test("sqlite: a large body leaves no WAL file of its size behind once it is checkpointed", async () => {
  const path = join(dir, `wal_${crypto.randomUUID()}.db`);
  const storage = new SQLiteStorage({ path });
  try {
    await storage.set("large", new Uint8Array(20 << 20).fill(7), Infinity);
    equal(statSync(`${path}-wal`).size > 20 << 20, true, "the body went through the WAL file");
    // The next writes start the WAL file over (it was checkpointed after the large write).
    for (let i = 0; i < 3; i++) await storage.set(`small${i}`, new Uint8Array(100), Infinity);
    const size = statSync(`${path}-wal`).size;
    equal(size <= 16 << 20, true, `the WAL file holds ${size} bytes`);
    equal((await storage.get("large"))?.length, 20 << 20);
  } finally {
    await storage.close();
  }
});
