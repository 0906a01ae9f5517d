/**
 * Bugs found by a third hunt over the CLI (`src/cli/*.ts`): `show --body --json`, a directory given
 * as the cache, a failure under a progress bar, and a MongoDB cache opened by Deno without
 * `--allow-env`.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../src/cli/main.ts";
import { runCli } from "./_cli.ts";
import { testEntry } from "./_entry.ts";
import { sqliteCacheFile } from "./_fixtures.ts";
import { RUNTIME, start, tempDir } from "./_runtime.ts";
import { serviceUrl } from "./_services.ts";

const dir = realpathSync(tempDir("http_cache_cli3_hunt_"));
let files = 0;

function sqliteFile(...entries: Parameters<typeof testEntry>[0][]): Promise<string> {
  return sqliteCacheFile(join(dir, `cache_${files++}.db`), entries.map((entry) => testEntry(entry)));
}

Deno.test("cli3 hunt: show --body --json is refused: --json promises a JSON document, --body writes the body", async () => {
  // Both together wrote the raw body: a script that parses what `--json` gives read a JSON body
  // as if it were the document about the entry.
  const url = "https://example.com/data.json";
  const path = await sqliteFile({
    url,
    headers: [["content-type", "application/json"]],
    body: new TextEncoder().encode('[{"status":500}]'),
  });
  const both = await runCli([`sqlite:${path}`, "show", url, "--body", "--json"]);
  deepEqual([both.code, both.stdout], [EXIT_USAGE, ""]);
  match(both.stderr, /^http-cache: Give --body or --json, not both/);
  const body = await runCli([`sqlite:${path}`, "show", url, "--body"]);
  deepEqual([body.code, body.stdout], [EXIT_OK, '[{"status":500}]']);
  const json = await runCli([`sqlite:${path}`, "show", url, "--json"]);
  equal(json.code, EXIT_OK, json.stderr);
  equal((JSON.parse(json.stdout) as { url: string }[])[0]!.url, url);
});

Deno.test("cli3 hunt: a directory given as the cache is named so, not a disk I/O error", async () => {
  // (`sqlite:./cache/` for the directory the file is in: SQLite said "disk I/O error".)
  const directory = join(dir, `directory_${files++}`);
  mkdirSync(directory);
  for (const cache of [`sqlite:${directory}`, `kv:${directory}`]) {
    const { code, stdout, stderr } = await runCli([cache, "stats"]);
    deepEqual([code, stdout], [EXIT_FAILURE, ""], cache);
    equal(stderr, `http-cache: Cannot open ${cache}: it is a directory, not a file\n`);
  }
});

Deno.test("cli3 hunt: a delete that fails on a terminal erases its progress bar before the message", async () => {
  // The bar stayed, and the message went on its line: `[####…]  99%  1,000 / 1,001 entries
  // scannedhttp-cache: Cannot delete from …`.
  const fresh = Array.from({ length: 1000 }, (_, i) => ({ url: `https://example.com/${i}` }));
  const path = await sqliteFile(...fresh, { url: "https://example.com/stale", expiresAt: Date.now() - 1000 });
  // Another connection holds the write lock: the scan reads, the delete waits, then fails.
  const { DatabaseSync } = await import("node:sqlite");
  const writer = new DatabaseSync(path);
  writer.exec("BEGIN IMMEDIATE");
  try {
    const { code, stdout, stderr } = await runCli([`sqlite:${path}`, "delete", "--expired"], {
      interactive: true,
    });
    deepEqual([code, stdout], [EXIT_FAILURE, ""]);
    match(stderr, /entries scanned/, "a bar was drawn");
    // deno-lint-ignore no-control-regex -- the erasing sequence is what it looks for
    match(stderr, /\r\x1b\[Khttp-cache: Cannot delete from sqlite:[^\n]*locked[^\n]*\n$/);
  } finally {
    writer.exec("ROLLBACK");
    writer.close();
  }
});

const mongo = serviceUrl("MONGODB_URL");

Deno.test({
  name: "cli3 hunt: a MongoDB cache opened by Deno without --allow-env names the permission, not a bad URL",
  // (Permissions are Deno's.)
  ignore: RUNTIME !== "deno" || mongo.skip !== undefined,
  async fn() {
    // The driver reads MONGODB_* variables as it parses the URL; Deno's refusal was reported as
    // "url must be a valid mongodb:// … connection string" and exit 2, a usage error.
    const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
    const cache = new URL(mongo.url!);
    cache.pathname = "/http_cache_cli3_hunt";
    const { code, stdout, stderr } = await start(
      "deno",
      ["run", "--allow-read", "--allow-net=127.0.0.1", main, cache.href, "stats"],
      { capture: true },
    ).exited;
    deepEqual([code, stdout], [EXIT_FAILURE, ""]);
    match(stderr, /^http-cache: Cannot open mongodb:\/\/[^ ]*\/http_cache_cli3_hunt[^ ]*: .*--allow-env/);
    ok(!/must be a valid/.test(stderr), stderr);
  },
});
