/**
 * The persistent stores, a second hunt: a SQLite file changed underneath a live session by
 * another program, and a SQLite database that may be read but not written.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import process from "node:process";
import { SQLiteBackend, type SQLiteDatabase } from "../backends/sqlite.ts";
import { CachedSession } from "../mod.ts";
import { origin, reply } from "./_origin.ts";
import { within } from "./_fixtures.ts";
import { RUNTIME, start, tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_stores2_hunt_");
/** The repository root, for a child's imports. */
const ROOT = new URL("../", import.meta.url).href;

/** Runs `code` (an ES module, with `ROOT` and `PATH` defined) in a child process of this runtime. */
function run(code: string, path: string): ReturnType<typeof start> {
  const source = `const ROOT = ${JSON.stringify(ROOT)};\nconst PATH = ${JSON.stringify(path)};\n${code}`;
  if (RUNTIME === "deno") return start("deno", ["eval", source], { capture: true });
  if (RUNTIME === "bun") return start(process.execPath, ["--eval", source], { capture: true });
  return start(process.execPath, [...process.execArgv, "--input-type=module", "--eval", source], {
    capture: true,
  });
}

/**
 * Stores a 200 KB response in a SQLite file, reads it back in another session, then has another
 * program cut the file short (`truncate`, `: > file`, a `cp` over it) and fetches the URL again.
 */
const TRUNCATED_UNDER_SESSION = `
const { truncateSync } = await import("node:fs");
const { CachedSession } = await import(ROOT + "mod.ts");
const { SQLiteBackend } = await import(ROOT + "backends/sqlite.ts");
let calls = 0;
const open = () => new CachedSession({
  backend: new SQLiteBackend({ path: PATH }),
  fetch: () => Promise.resolve(new Response(String(++calls).repeat(200_000), { headers: { "cache-control": "max-age=600" } })),
  onError: () => {},
});
const url = "http://127.0.0.1:9/large";
// (Closed, so that the record is moved from the WAL file into the database file; the next session
// writes another record, so that the WAL file holds the database's size, which its reads trust.)
const first = open();
await (await first.fetch(url)).text();
await first.close();
const session = open();
const hit = await session.fetch(url);
console.log("hit", hit.fromCache, (await hit.text()) === "1".repeat(200_000));
await (await session.fetch("http://127.0.0.1:9/small")).text();
truncateSync(PATH, 4096);
const after = await session.fetch(url);
const text = await after.text();
console.log("served", after.fromCache, text === "3".repeat(200_000));
await session.close();
`;

// Was: the file was read through a 256 MiB memory map (PRAGMA mmap_size): once another program
// cut the file short, SQLite read past its end through the map and the process died of SIGBUS
// (Deno, Node, Bun alike), where an error is a miss and the request goes to the origin.
Deno.test("sqlite: a file cut short by another program under a live session is a miss, and the process lives on", async () => {
  const path = join(dir, `truncated_${crypto.randomUUID()}.db`);
  const { code, stdout, stderr } = await within(60_000, run(TRUNCATED_UNDER_SESSION, path).exited);
  equal(code, 0, `the child died (exit code ${code}):\n${stdout}\n${stderr}`);
  deepEqual(stdout.trim().split("\n"), ["hit true true", "served false true"]);
});

// Was: opening purged the expired rows, and the purge of a database that may not be written (a
// file of another user's, as the CLI reads one; a database passed in read-only) failed the open:
// every read was a miss reported to onError, though the purge only reclaims space.
Deno.test("sqlite: a database that may be read but not written serves what it holds", async () => {
  const path = join(dir, `read_only_${crypto.randomUUID()}.db`);
  const url = "http://127.0.0.1:9/a";
  const writer = new CachedSession({
    backend: new SQLiteBackend({ path }),
    fetch: () => Promise.resolve(reply("stored", { "cache-control": "max-age=600" })),
  });
  try {
    await (await writer.fetch(url)).text();
    // (And a row past its expiry, which opening purges.)
    await writer.cache.storage.set("gone", new Uint8Array([1]), Date.now() - 1000);
  } finally {
    await writer.close();
  }
  const database = new DatabaseSync(path, { readOnly: true });
  const server = origin(() => reply("origin", { "cache-control": "max-age=600" }));
  const errors: string[] = [];
  const reader = new CachedSession({
    backend: new SQLiteBackend({ database: database as unknown as SQLiteDatabase }),
    fetch: server.fetch,
    onError: (error, context) => void errors.push(`${context.operation}: ${error}`),
  });
  try {
    const response = await reader.fetch(url);
    deepEqual([await response.text(), response.fromCache], ["stored", true]);
    equal(server.calls, 0);
    deepEqual(errors, []);
    equal(await reader.cache.count(), 1);
    // A write is refused by the database: reported, and the response still served.
    const other = await reader.fetch("http://127.0.0.1:9/b");
    equal(await other.text(), "origin");
    equal(errors.length, 1, errors.join("\n"));
  } finally {
    await reader.close();
    database.close();
  }
});
