/**
 * Bugs found by a second hunt over the CLI (`src/cli/*.ts`): how it parses options given twice
 * or without their value.
 *
 * @module
 */

import { deepEqual, equal, match } from "node:assert/strict";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { EXIT_OK, EXIT_USAGE } from "../src/cli/main.ts";
import { runCli } from "./_cli.ts";
import { testEntry } from "./_entry.ts";
import { sqliteCacheFile } from "./_fixtures.ts";
import { tempDir } from "./_runtime.ts";

const dir = realpathSync(tempDir("http_cache_cli2_hunt_"));
let files = 0;

/** A SQLite cache of three entries: two under api.example.com, one under www.example.com. */
function threeEntries(): Promise<string> {
  return sqliteCacheFile(join(dir, `cache_${files++}.db`), [
    testEntry({ url: "https://api.example.com/users" }),
    testEntry({ url: "https://api.example.com/teams" }),
    testEntry({ url: "https://www.example.com/logo.png" }),
  ]);
}

async function urlsIn(path: string): Promise<string[]> {
  const cache = new SQLiteBackend({ path });
  try {
    return await cache.urls();
  } finally {
    await cache.close();
  }
}

Deno.test("cli2 hunt: a value option given twice is refused, before a delete deletes what only the last one selects", async () => {
  // `delete --url A --url B` kept the last pattern alone (node:util parseArgs), and deleted what
  // matches B, also outside A, where the docs say every option given must match.
  const path = await threeEntries();
  const cases = [
    ["delete", "--url", "api.example.com/*", "--url", "www.example.com/*"],
    ["delete", "--older-than", "7d", "--older-than=0s"],
    ["list", "--limit", "1", "--limit", "2"],
  ];
  for (const args of cases) {
    const { code, stdout, stderr } = await runCli([`sqlite:${path}`, ...args]);
    equal(code, EXIT_USAGE, args.join(" "));
    equal(stdout, "");
    match(
      stderr,
      /^http-cache: --(url|older-than|limit) is given twice \("[^"]*", "[^"]*"\): give it once\n/,
    );
  }
  deepEqual(await urlsIn(path), [
    "https://api.example.com/teams",
    "https://api.example.com/users",
    "https://www.example.com/logo.png",
  ]);
  // A flag given twice still says the same thing once.
  const json = await runCli([`sqlite:${path}`, "list", "--json", "--json", "--url", "www.example.com/*"]);
  equal(json.code, EXIT_OK, json.stderr);
  deepEqual(JSON.parse(json.stdout).map((row: { url: string }) => row.url), [
    "https://www.example.com/logo.png",
  ]);
});

Deno.test("cli2 hunt: an option without its value, or with one that starts with a dash, is refused in one line", async () => {
  // node:util's message for `--older-than -5m` took three lines ("… is ambiguous.\nDid you forget
  // …"), and Bun named the unknown option of `-yx` "x", without its dash.
  const path = await threeEntries();
  const cases: [string[], string][] = [
    [["list", "--url"], "--url needs a value"],
    [
      ["delete", "--older-than", "-5m"],
      "--older-than needs a value: a value that starts with a dash is given as --older-than=VALUE",
    ],
    [["clear", "-yx"], "Unknown option -x"],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await runCli([`sqlite:${path}`, ...args]);
    equal(code, EXIT_USAGE, args.join(" "));
    equal(stdout, "");
    equal(stderr, `http-cache: ${message}\nRun http-cache --help for usage.\n`);
  }
  equal((await urlsIn(path)).length, 3);
});
