/**
 * The SQLite backend, a third hunt: real files a user points it at — a read-only copy in another
 * journal mode, a path that does not open.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { join, resolve } from "node:path";
import { SQLiteBackend, SQLiteStorage } from "../backends/sqlite.ts";
import { CachedSession } from "../mod.ts";
import { tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_sqlite3_hunt_");

// Was: opening switched the file to WAL mode, a write, and a file in rollback-journal mode that
// may not be written failed to open: every read of a snapshot made with `VACUUM INTO` (which
// writes a rollback-journal file) and opened read-only was a miss, reported to onError
// ("attempt to write a readonly database"), where docs/backends.md has such a database serve
// what it holds.
/** Whether SQLite may open a `file:` URI here: Deno wants read access to every file for one. */
const OPENS_URIS =
  (globalThis as { Deno?: { permissions?: { querySync?(d: { name: "read" }): { state: string } } } })
    .Deno?.permissions?.querySync?.({ name: "read" }).state !== "prompt";

Deno.test({
  name: "sqlite: a read-only copy made by VACUUM INTO (rollback journal) serves what it holds",
  ignore: !OPENS_URIS,
}, async () => {
  const path = join(dir, `live_${crypto.randomUUID()}.db`);
  const copy = join(dir, `copy_${crypto.randomUUID()}.db`);
  const url = "http://127.0.0.1:9/a";
  const writer = new CachedSession({
    backend: new SQLiteBackend({ path }),
    fetch: () => Promise.resolve(new Response("stored", { headers: { "cache-control": "max-age=600" } })),
  });
  try {
    await (await writer.fetch(url)).text();
  } finally {
    await writer.close();
  }
  // (What `VACUUM INTO` writes; Deno's test permissions refuse the ATTACH it makes.)
  copyFileSync(path, copy);
  const rollback = new DatabaseSync(copy);
  rollback.exec("PRAGMA journal_mode = DELETE");
  rollback.close();
  let calls = 0;
  const errors: string[] = [];
  const reader = new CachedSession({
    backend: new SQLiteBackend({ path: `file:${copy}?mode=ro` }),
    fetch: () =>
      Promise.resolve(new Response(`origin ${++calls}`, { headers: { "cache-control": "max-age=600" } })),
    onError: (error, context) => void errors.push(`${context.operation}: ${error}`),
  });
  try {
    const response = await reader.fetch(url);
    deepEqual([await response.text(), response.fromCache, calls], ["stored", true, 0]);
    deepEqual(errors, []);
    // A write is refused by the database: reported, and the response still served.
    equal(await (await reader.fetch("http://127.0.0.1:9/b")).text(), "origin 1");
    equal(errors.length, 1, errors.join("\n"));
    ok(/readonly database/.test(errors[0]!), errors[0]);
  } finally {
    await reader.close();
  }
});

// Was: on Node and Bun the error named no file ("unable to open database file"), where Deno's
// names it: a `~/cache.db` (SQLite expands no `~`) or a folder not yet made was not to be told
// from any other failure in onError.
Deno.test("sqlite: a file that does not open is named in the error, on every runtime", async () => {
  // (A `~/cache.db` fails the same way where the runtime may read it: SQLite expands no `~`.)
  for (const path of [join(dir, "no-such-folder", "cache.db"), join(dir, "~", "cache.db")]) {
    const storage = new SQLiteStorage({ path });
    try {
      const error = await storage.get("k").then(() => undefined, (error: unknown) => error);
      ok(error instanceof Error, `${path}: the read failed`);
      // (Deno names the file by its absolute path.)
      ok(error.message.endsWith(`: ${path}`) || error.message.endsWith(`: ${resolve(path)}`), error.message);
    } finally {
      await storage.close();
    }
  }
});
