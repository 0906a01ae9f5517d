/**
 * The CLI: in-process through `run()` with a recording IO, and end to end as a `deno run`
 * subprocess against a SQLite file and against Redis.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { CacheBackend } from "../backends/base.ts";
import { DenoKVBackend } from "../backends/deno_kv.ts";
import { RedisBackend } from "../backends/redis.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, run } from "../src/cli/main.ts";
import { urlKeyPrefix } from "../src/cache_keys.ts";
import { parseDuration } from "../src/cli/args.ts";
import { redact } from "../src/cli/open.ts";
import { formatBytes, formatRelative } from "../src/cli/format.ts";
import type { CacheEntry } from "../src/record.ts";
import { recorder } from "./_cli.ts";
import { RUNTIME, start, tempDir } from "./_runtime.ts";
import { serviceUrl } from "./_services.ts";

const dir = realpathSync(tempDir("http_cache_cli_"));
let files = 0;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function entry(url: string, overrides: Partial<CacheEntry> = {}): CacheEntry {
  const now = Date.now();
  return {
    method: "GET",
    url,
    redirected: false,
    status: 200,
    statusText: "OK",
    headers: [["content-type", "text/plain; charset=utf-8"], ["etag", '"1"']],
    vary: [],
    requestTime: now,
    responseTime: now,
    createdAt: now,
    expiresAt: now + HOUR,
    varyGeneration: 0,
    body: new TextEncoder().encode(`body of ${url}`),
    ...overrides,
  };
}

/** Stores four entries, keyed the way the session keys them: one expired, one ten days old. */
async function fill(cache: CacheBackend): Promise<void> {
  const now = Date.now();
  const entries = [
    entry("https://api.example.com/users"),
    entry("https://api.example.com/stale", { expiresAt: now - HOUR }),
    entry("https://www.example.com/old", { createdAt: now - 10 * DAY, expiresAt: Infinity }),
    entry("https://www.example.com/logo.png", {
      headers: [["content-type", "image/png"]],
      body: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]),
    }),
  ];
  for (const stored of entries) {
    await cache.write(await urlKeyPrefix("GET", new URL(stored.url)), stored, Infinity);
  }
}

async function sqliteCache(): Promise<string> {
  const path = `${dir}/cache_${files++}.db`;
  const cache = new SQLiteBackend({ path });
  await fill(cache);
  await cache.close();
  return path;
}

Deno.test("cli: usage errors exit 2 with a message on stderr and nothing on stdout", async () => {
  const path = await sqliteCache();
  const cases: [string[], RegExp][] = [
    [[], /Missing the cache/],
    [[`sqlite:${path}`], /Missing the command/],
    [[`sqlite:${path}`, "purge"], /Unknown command "purge"/],
    [["stats", `sqlite:${path}`], /the cache comes first/],
    [[`sqlite:${path}`, "list", "--bogus"], /Unknown option --bogus/],
    [[`sqlite:${path}`, "stats", "--expired"], /stats does not take --expired/],
    [[`sqlite:${path}`, "delete", "--expired", "--valid"], /--expired or --valid, not both/],
    [[`sqlite:${path}`, "delete"], /delete needs URLs or --expired/],
    [[`sqlite:${path}`, "delete", "--older-than", "soon"], /--older-than must be a duration/],
    [[`sqlite:${path}`, "list", "--limit", "0"], /--limit must be a positive integer/],
    [[`sqlite:${path}`, "show"], /show takes one URL or cache key/],
    [[`sqlite:${path}`, "clear"], /run it again with --yes/],
    [[`sqlite:${path}`, "clear", "--yes", "https://api.example.com/users"], /clear takes no arguments/],
    [["memory:", "stats"], /memory: cache lives inside one process/],
    [["ftp://example.com", "stats"], /Unsupported cache URL "ftp:\/\/example.com"/],
    [[path, "stats"], /a SQLite file\? sqlite:/],
    [["sqlite:", "stats"], /has no path/],
  ];
  for (const [args, message] of cases) {
    const io = recorder(args);
    equal(await run(io), EXIT_USAGE, args.join(" "));
    match(io.stderr, message);
    match(io.stderr, /Run http-cache --help for usage/);
    equal(io.stdout(), "");
  }
  const cache = new SQLiteBackend({ path });
  equal(await cache.count(), 4, "no usage error touched the cache");
  await cache.close();
});

Deno.test("cli: stats as text, show by URL as JSON and by key, several entries of one URL, list --limit", async () => {
  const path = await sqliteCache();
  const cache = `sqlite:${path}`;
  const users = "https://api.example.com/users";
  const backend = new SQLiteBackend({ path });
  // A HEAD response stored beside the GET one, with a Vary of its own.
  const head = entry(users, { method: "HEAD", body: new Uint8Array(0), vary: [["accept", null]] });
  await backend.write(await urlKeyPrefix("HEAD", new URL(users)), head, Infinity);
  await backend.close();
  const call = async (...args: string[]) => {
    const io = recorder([cache, ...args]);
    const code = await run(io);
    return { code, stdout: io.stdout(), stderr: io.stderr };
  };

  const stats = await call("stats");
  equal(stats.code, EXIT_OK, stats.stderr);
  match(stats.stdout, /^cache +sqlite:\S+ \(sqlite\)$/m);
  match(stats.stdout, /^entries +5 \(4 fresh, 1 expired\)$/m);
  match(stats.stdout, /^size +\d[\d.,]* [KM]?B \(bodies \d+ B\)$/m);
  match(stats.stdout, /^oldest +\S.* \(10d ago\)$/m);
  match(stats.stdout, /^newest +\S.* \(now\)$/m);

  const both = await call("show", users);
  equal(both.code, EXIT_OK, both.stderr);
  equal(both.stdout.match(/^URL +https:\/\/api\.example\.com\/users$/gm)?.length, 2);
  match(both.stdout, /^Method +HEAD$/m);
  match(both.stdout, /^Vary +accept: \(absent\)$/m);
  match(both.stdout, /^Body: empty$/m);
  const ambiguous = await call("show", users, "--body");
  equal(ambiguous.code, EXIT_FAILURE);
  match(
    ambiguous.stderr,
    /2 entries are stored for https:\/\/api\.example\.com\/users; show one by key:\n {2}\S+\n {2}\S+/,
  );
  const json = await call("show", users, "--json");
  const documents = JSON.parse(json.stdout) as {
    method: string;
    key: string;
    headers: unknown;
    body: unknown;
  }[];
  deepEqual(documents.map((document) => document.method).sort(), ["GET", "HEAD"]);
  const got = documents.find((document) => document.method === "GET")!;
  deepEqual(got.headers, [["content-type", "text/plain; charset=utf-8"], ["etag", '"1"']]);
  const byKey = await call("show", got.key, "--body");
  deepEqual([byKey.code, byKey.stdout], [EXIT_OK, `body of ${users}`]);
  const unknownKey = await call("show", "no-such-key");
  equal(unknownKey.code, EXIT_FAILURE);
  match(unknownKey.stderr, /Nothing is stored for no-such-key/);
  const schemeless = await call("show", "api.example.com/users");
  match(schemeless.stderr, /a URL needs its scheme: https:\/\/api\.example\.com\/users/);

  const limited = await call("list", "--limit", "2", "--json");
  equal(JSON.parse(limited.stdout).length, 2);
});

Deno.test("cli: show ~KEY (a redirect's alias) reports the key of the entry it leads to", async () => {
  const path = await sqliteCache();
  const users = "https://api.example.com/users";
  const target = await urlKeyPrefix("GET", new URL(users));
  const backend = new SQLiteBackend({ path });
  await backend.writeAlias("redirected-from", target, Infinity);
  await backend.close();
  const call = async (...args: string[]) => {
    const io = recorder([`sqlite:${path}`, "show", ...args]);
    const code = await run(io);
    return { code, stdout: io.stdout(), stderr: io.stderr };
  };
  // The alias key without its "~" is no key at all: it used to be printed as the entry's.
  const text = await call("~redirected-from");
  equal(text.code, EXIT_OK, text.stderr);
  match(text.stdout, /^URL +https:\/\/api\.example\.com\/users$/m);
  equal(text.stdout.match(/^Key +(\S+)$/m)?.[1], target);
  const json = await call("~redirected-from", "--json");
  deepEqual((JSON.parse(json.stdout) as { key: string }[]).map(({ key }) => key), [target]);
  const byKey = await call(target, "--body");
  deepEqual([byKey.code, byKey.stdout], [EXIT_OK, `body of ${users}`]);
});

Deno.test("cli: show escapes the control characters of a stored body and fields, --body and --json keep them", async () => {
  const path = `${dir}/cache_${files++}.db`;
  const backend = new SQLiteBackend({ path });
  const url = "https://api.example.com/escapes";
  const body = "clear\x1b[2Jbell\x07over\rwrite\r\nnext\tline\u009b";
  await backend.write(
    await urlKeyPrefix("GET", new URL(url)),
    entry(url, {
      headers: [["content-type", "text/plain"], ["x-note", "red\x1b[31m"]],
      body: new TextEncoder().encode(body),
    }),
    Infinity,
  );
  await backend.close();
  const call = async (...args: string[]) => {
    const io = recorder([`sqlite:${path}`, "show", url, ...args]);
    const code = await run(io);
    return { code, stdout: io.stdout(), stderr: io.stderr };
  };
  const text = await call();
  equal(text.code, EXIT_OK, text.stderr);
  match(text.stdout, /^clear\\x1b\[2Jbell\\x07over\\x0dwrite\r\nnext\tline\\x9b$/m);
  match(text.stdout, /^ {2}x-note: red\\x1b\[31m$/m);
  // deno-lint-ignore no-control-regex -- no control character is left
  equal(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/.test(text.stdout), false);
  // Asked for the bytes, or for JSON (which escapes them itself), the user gets them as stored.
  equal((await call("--body")).stdout, body);
  equal((JSON.parse((await call("--json")).stdout) as { body: { text: string } }[])[0]!.body.text, body);
});

Deno.test("cli: list escapes the control characters of a URL read from a crafted database", async () => {
  const path = `${dir}/cache_${files++}.db`;
  const backend = new SQLiteBackend({ path });
  const url = "https://example.com/\x1b]0;owned\x07\x1b[2J";
  await backend.write(await urlKeyPrefix("GET", new URL(url)), entry(url), Infinity);
  await backend.close();
  const io = recorder([`sqlite:${path}`, "list"]);
  equal(await run(io), EXIT_OK, io.stderr);
  match(io.stdout(), /example\.com\/\\x1b\]0;owned\\x07\\x1b\[2J/);
  // deno-lint-ignore no-control-regex -- no control character is left
  equal(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/.test(io.stdout()), false);
});

Deno.test("cli: kv: refuses a file that is not a Deno KV database and leaves it as it was", async () => {
  // A SQLite cache given as kv: (Deno.openKv would add its tables to it), and an empty file.
  const sqlitePath = await sqliteCache();
  const empty = `${dir}/empty_${files++}.kv`;
  writeFileSync(empty, "");
  for (const path of [sqlitePath, empty]) {
    const before = readFileSync(path);
    const io = recorder([`kv:${path}`, "list"]);
    equal(await run(io), EXIT_FAILURE, path);
    match(io.stderr, /Cannot open kv:.*: it is not a Deno KV database/);
    equal(io.stdout(), "");
    deepEqual(readFileSync(path), before, `${path} is unchanged`);
  }
  // A real KV cache still opens.
  const kvPath = `${dir}/real_${files++}.kv`;
  const kv = new DenoKVBackend({ path: kvPath });
  equal(await kv.count(), 0);
  await kv.close();
  const io = recorder([`kv:${kvPath}`, "stats", "--json"]);
  equal(await run(io), EXIT_OK, io.stderr);
  equal(JSON.parse(io.stdout()).entries, 0);
});

Deno.test("cli: help and version exit 0", async () => {
  for (const args of [["--help"], ["-h"], ["help"], ["sqlite:x.db", "list", "--help"]]) {
    const io = recorder(args);
    equal(await run(io), EXIT_OK);
    match(io.stdout(), /Usage: http-cache CACHE COMMAND/);
    match(io.stdout(), /Exit codes: 0 success, 1 failure/);
  }
  const io = recorder(["--version"]);
  equal(await run(io), EXIT_OK);
  match(io.stdout(), /^http-cache \d+\.\d+\.\d+\n$/);
});

Deno.test("cli: a missing file, a file that is not a cache, an unreachable server exit 1", async () => {
  // SQLite reads an empty file as an empty database.
  const notCache = `${dir}/not_a_cache_${files++}.db`;
  writeFileSync(notCache, "");
  const port = await closedPort();
  const cases: [string[], RegExp][] = [
    [[`sqlite:${dir}/missing.db`, "stats"], /Cannot open sqlite:.*missing\.db: no such file/],
    [[`sqlite:${notCache}`, "list"], /it is not an http-cache database \(no table http_cache_v1\)/],
    [
      [`redis://user:secret@127.0.0.1:${port}`, "list"],
      /^http-cache: Cannot reach redis:\/\/user:\*\*\*@127\.0\.0\.1:\d+: /,
    ],
  ];
  for (const [args, message] of cases) {
    const io = recorder(args);
    equal(await run(io), EXIT_FAILURE, args.join(" "));
    match(io.stderr, message);
    ok(!io.stderr.includes("secret"), "the password is never printed");
    equal(io.stdout(), "");
  }
});

Deno.test("cli: a password never shows in a message: one with @, one a driver repeats, one in kv:https://", async () => {
  const port = await closedPort();
  const cases: [string[], RegExp][] = [
    // URL parsers end userinfo at the last "@" of the authority.
    [
      [`redis://user:SECRET@PW@127.0.0.1:${port}`, "list"],
      /^http-cache: Cannot reach redis:\/\/user:\*\*\*@127\.0\.0\.1:/,
    ],
    // The port is out of range: the backend refuses the URL (a usage error), quoted without its password.
    [
      ["redis://user:SECRET@PW@127.0.0.1:99999", "stats"],
      /^http-cache: Cannot create RedisBackend: url must be a redis:\/\/ or rediss:\/\/ URL: received redis:\/\/user:\*\*\*@127\.0\.0\.1:99999\nRun http-cache --help for usage\.\n$/,
    ],
    [
      ["redis://user:SECRET@127.0.0.1:1", "clear"],
      /clear deletes every entry of redis:\/\/user:\*\*\*@127\.0\.0\.1:1/,
    ],
  ];
  for (const [args, message] of cases) {
    const io = recorder(args);
    await run(io);
    match(io.stderr, message);
    ok(!/SECRET|PW@/.test(io.stderr), `a password printed: ${io.stderr}`);
  }
  equal(redact("kv:https://user:SECRET@kv.example.com/db"), "kv:https://user:***@kv.example.com/db");
  equal(redact("mongodb://user:p@ss@h1,h2/db?x=a@b"), "mongodb://user:***@h1,h2/db?x=a@b");
  equal(redact("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
});

Deno.test("cli: a delete draws a progress bar on a terminal only, and clears it", async () => {
  for (const interactive of [true, false]) {
    const path = await sqliteCache();
    const io = recorder([`sqlite:${path}`, "delete", "--older-than", "1d"], { interactive });
    equal(await run(io), EXIT_OK);
    equal(io.stdout(), "Deleted 1 entry.\n");
    if (interactive) {
      ok(io.stderr.startsWith("\r\x1b[K["), "the bar redraws its line");
      match(io.stderr, /\[#*\.*\] +\d+% {2}\d+ \/ 4 entries scanned/);
      ok(io.stderr.endsWith("\r\x1b[K"), "the bar is cleared at the end");
    } else {
      equal(io.stderr, "");
    }
  }
});

Deno.test("cli: durations and formats", () => {
  deepEqual(["45", "30s", "15m", "12h", "7d", "2w", "1.5h"].map(parseDuration), [
    45,
    30,
    900,
    43_200,
    604_800,
    1_209_600,
    5400,
  ]);
  deepEqual([0, 1023, 1024, 1536, 10 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes), [
    "0 B",
    "1023 B",
    "1.0 KiB",
    "1.5 KiB",
    "10 MiB",
    "3.0 GiB",
  ]);
  const now = Date.now();
  deepEqual([now, now - 5000, now + 90_000, now - 3 * DAY, Infinity].map((t) => formatRelative(t, now)), [
    "now",
    "5s ago",
    "in 1m",
    "3d ago",
    "never",
  ]);
});

// --- End to end: the CLI as a subprocess of the runtime that runs the tests ---------------------

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** Runs the CLI in a child process: `deno run` with narrow permissions, or Node / Bun on the file. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, runtimeArgs] = RUNTIME === "deno"
    ? ["deno", ["run", `--allow-read=${dir}`, `--allow-write=${dir}`, "--allow-net=127.0.0.1", "--allow-env"]]
    : [process.execPath, process.execArgv];
  return await start(command, [...runtimeArgs, MAIN, ...args], { capture: true }).exited;
}

Deno.test("cli end to end: every command against a SQLite file", async () => {
  const path = await sqliteCache();
  const cache = `sqlite:${path}`;

  const stats = await cli([cache, "stats", "--json"]);
  equal(stats.code, EXIT_OK, stats.stderr);
  const report = JSON.parse(stats.stdout);
  deepEqual([report.backend, report.entries, report.fresh, report.expired], ["sqlite", 4, 3, 1]);
  ok(report.bytes > report.bodyBytes && report.bodyBytes > 0);

  const table = await cli([cache, "list"]);
  equal(table.code, EXIT_OK, table.stderr);
  const lines = table.stdout.trimEnd().split("\n");
  match(lines[0]!, /^STATUS +SIZE +CREATED +EXPIRES +URL$/);
  deepEqual(lines.slice(1).map((line) => line.split(" ").at(-1)).sort(), [
    "https://api.example.com/stale",
    "https://api.example.com/users",
    "https://www.example.com/logo.png",
    "https://www.example.com/old",
  ]);
  match(table.stdout, /200 +\S+ B +10d ago +never +https:\/\/www\.example\.com\/old/);

  const expired = await cli([cache, "list", "--expired", "--json"]);
  deepEqual(JSON.parse(expired.stdout).map((row: { url: string }) => row.url), [
    "https://api.example.com/stale",
  ]);
  const api = await cli([cache, "list", "--url", "api.example.com/*", "--json"]);
  equal(JSON.parse(api.stdout).length, 2);

  const shown = await cli([cache, "show", "https://api.example.com/users"]);
  equal(shown.code, EXIT_OK, shown.stderr);
  match(shown.stdout, /^URL +https:\/\/api\.example\.com\/users$/m);
  match(shown.stdout, /^Status +200 OK$/m);
  match(shown.stdout, /^ {2}etag: "1"$/m);
  match(shown.stdout, /^Body:\nbody of https:\/\/api\.example\.com\/users$/m);
  const png = await cli([cache, "show", "https://www.example.com/logo.png"]);
  match(png.stdout, /binary; the first bytes in hex:\n {2}89 50 4e 47 00 01 02/);
  const raw = await cli([cache, "show", "https://api.example.com/users", "--body"]);
  deepEqual([raw.code, raw.stdout], [EXIT_OK, "body of https://api.example.com/users"]);
  const missing = await cli([cache, "show", "https://nowhere.example/"]);
  deepEqual([missing.code, missing.stdout], [EXIT_FAILURE, ""]);
  match(missing.stderr, /Nothing is stored for https:\/\/nowhere\.example\//);

  const deleted = await cli([cache, "delete", "--expired", "--json"]);
  deepEqual([deleted.code, JSON.parse(deleted.stdout)], [EXIT_OK, { deleted: 1 }]);
  const byUrl = await cli([cache, "delete", "https://www.example.com/old"]);
  deepEqual([byUrl.code, byUrl.stdout], [EXIT_OK, "Deleted 1 entry.\n"]);
  const refused = await cli([cache, "clear"]);
  equal(refused.code, EXIT_USAGE);
  const cleared = await cli([cache, "clear", "--yes"]);
  deepEqual([cleared.code, cleared.stdout], [EXIT_OK, `Cleared ${cache}: 2 entries deleted.\n`]);
  const empty = await cli([cache, "list"]);
  deepEqual([empty.code, empty.stdout, empty.stderr], [EXIT_OK, "", "No entries.\n"]);

  const bad = await cli(["postgres://127.0.0.1/db", "stats"]);
  equal(bad.code, EXIT_USAGE);
  match(bad.stderr, /Unsupported cache URL/);
});

const redis = serviceUrl("REDIS_URL");

Deno.test({
  name: "cli end to end: Redis under a key prefix, and a Redis that is not there",
  ignore: redis.skip !== undefined,
  async fn() {
    const prefix = `http-cache-cli-test:${crypto.randomUUID()}:v1:`;
    const backend = new RedisBackend({ url: redis.url!, prefix });
    try {
      await fill(backend);
      const cache = `${redis.url}?prefix=${encodeURIComponent(prefix)}`;
      const stats = await cli([cache, "stats", "--json"]);
      equal(stats.code, EXIT_OK, stats.stderr);
      deepEqual([JSON.parse(stats.stdout).backend, JSON.parse(stats.stdout).entries], ["redis", 4]);
      const deleted = await cli([cache, "delete", "--older-than", "7d", "--url", "www.example.com"]);
      deepEqual([deleted.code, deleted.stdout], [EXIT_OK, "Deleted 1 entry.\n"]);
      equal(await backend.count(), 3);
      const listed = await cli([cache, "list", "--valid", "--json"]);
      deepEqual(JSON.parse(listed.stdout).map((row: { url: string }) => row.url).sort(), [
        "https://api.example.com/users",
        "https://www.example.com/logo.png",
      ]);
      const other = await cli([redis.url!, "stats", "--json"]);
      equal(JSON.parse(other.stdout).entries, 0, "another prefix is another cache");
    } finally {
      await backend.clear();
      await backend.close();
    }
    const down = await cli([`redis://127.0.0.1:${await closedPort()}`, "stats"]);
    deepEqual([down.code, down.stdout], [EXIT_FAILURE, ""]);
    match(down.stderr, /^http-cache: Cannot reach redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  },
});

/** A port nothing listens on: one that was free a moment ago. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
