import { deepEqual, equal, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import process from "node:process";
import { SQLiteBackend, type SQLiteDatabase, SQLiteStorage } from "../backends/sqlite.ts";
import { CachedSession } from "../mod.ts";
import { runsOn, tempDir } from "./_runtime.ts";
import { within } from "./_fixtures.ts";

const dir = tempDir("http_cache_sqlite_hunt_");

async function keys(storage: SQLiteStorage): Promise<string[]> {
  const out: string[] = [];
  for await (const key of storage.keys()) out.push(key);
  return out.sort();
}

/** Writes past `maxEntries: 3`, reads, lists and deletes through a storage over `database`. */
async function useBounded(database: SQLiteDatabase): Promise<void> {
  const storage = new SQLiteStorage({ database, maxEntries: 3 });
  try {
    for (const key of ["a", "b", "c", "d", "e"]) {
      await storage.set(key, new Uint8Array([key.charCodeAt(0)]), Infinity);
    }
    deepEqual(await storage.get("e"), new Uint8Array([101]));
    deepEqual(await keys(storage), ["c", "d", "e"]);
    await storage.delete(["e"]);
    equal(await storage.get("e"), undefined);
    deepEqual(await keys(storage), ["c", "d"]);
  } finally {
    await storage.close();
  }
}

// Every get was a miss and keys() listed `undefined` (rows came back as arrays), and a write with
// a bound threw after storing (count(*) came back as a BigInt).
Deno.test("sqlite: a database passed in that reads integers as BigInts, or rows as arrays, works as any other", async () => {
  for (
    const options of [{ readBigInts: true }, { returnArrays: true }, {
      readBigInts: true,
      returnArrays: true,
    }]
  ) {
    const database = new DatabaseSync(":memory:", options);
    try {
      await useBounded(database as unknown as SQLiteDatabase);
    } finally {
      database.close();
    }
  }
});

// Each write with a bound threw a TypeError (a BigInt count), after storing the record.
Deno.test({
  name: "sqlite: a bun:sqlite database passed in with safeIntegers works as any other",
  ...runsOn("bun", "bun:sqlite"),
  fn: async () => {
    const { Database } = (process as unknown as {
      getBuiltinModule(id: "bun:sqlite"): {
        Database: new (path: string, options: { safeIntegers: boolean }) => SQLiteDatabase;
      };
    }).getBuiltinModule("bun:sqlite");
    const database = new Database(":memory:", { safeIntegers: true });
    try {
      await useBounded(database);
    } finally {
      database.close();
    }
  },
});

const named = (count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => `k${String(from + i).padStart(3, "0")}`);

// An eviction for one bound also made room for a sixteenth of the other, however far under it
// the table was: with `maxEntries: 64, maxBytes: 1_000_000` the 65th record of 100 bytes emptied
// the table (62,500 bytes of room), and with `maxBytes` reached first, `maxEntries: 1000` took 62
// records out of 11. The documented example, `maxEntries: 10_000` with `maxBytes: 512 MiB`,
// emptied a cache of records under 3 KB at each eviction.
Deno.test("sqlite: with maxEntries and maxBytes, an eviction for one bound takes out no more than that bound needs", async () => {
  const byEntries = new SQLiteStorage({ path: ":memory:", maxEntries: 64, maxBytes: 1_000_000 });
  try {
    for (const key of named(65)) await byEntries.set(key, new Uint8Array(100), Infinity);
    // 65 records for 64: the oldest go, to a sixteenth (4) under the bound.
    deepEqual(await keys(byEntries), named(60, 5));
  } finally {
    await byEntries.close();
  }
  const byBytes = new SQLiteStorage({ path: ":memory:", maxEntries: 1000, maxBytes: 1000 });
  try {
    for (const key of named(11)) await byBytes.set(key, new Uint8Array(100), Infinity);
    // 1,100 bytes for 1,000: the oldest go until 62 bytes (a sixteenth) beside the new record.
    deepEqual(await keys(byBytes), named(9, 2));
  } finally {
    await byBytes.close();
  }
});

// close() rejected with the open's own error ("unable to open database file") when it ran while
// the first open was under way and failed; the other backends' close() resolves.
Deno.test("sqlite: close() while an open that fails is under way resolves, and the call that opened fails", async () => {
  const storage = new SQLiteStorage({ path: `${dir}/no-such-folder/cache.db` });
  const read = storage.get("k").then(() => undefined, (error: unknown) => error);
  await within(5000, storage.close());
  ok(await read instanceof Error, "the read failed");
  // A later use tries to open again, and fails the same way; close() is still quiet.
  ok(
    await storage.set("k", new Uint8Array(1), Infinity).then(
      () => undefined,
      (error: unknown) => error,
    ) instanceof Error,
  );
  await storage.close();
});

// On Node and Bun, the session's close() rejected with the SQLite open error of a request under way.
Deno.test("sqlite: a session closed while its SQLite file fails to open closes, and the request is served", async () => {
  const errors: unknown[] = [];
  const session = new CachedSession({
    backend: new SQLiteBackend({ path: `${dir}/no-such-folder/session.db` }),
    fetch: () => Promise.resolve(new Response("fresh", { headers: { "cache-control": "max-age=60" } })),
    onError: (error) => void errors.push(error),
  });
  const response = session.fetch("http://127.0.0.1/a");
  await within(5000, session.close());
  equal(await (await response).text(), "fresh");
});
