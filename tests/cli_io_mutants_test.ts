/**
 * The CLI's window on the process (`src/cli/io.ts`, `src/cli/main.ts`), checked where mutation
 * testing found that no other test would fail: what reaches stderr off and on a terminal, the
 * exit code when stdout is closed early or cannot be written, and a start through a package's
 * bin link. The CLI runs as a child process of the runtime that runs the tests, as in
 * `cli_test.ts`. Each test names the mutant it kills (file:line as of the session that wrote
 * it, and the change).
 *
 * @module
 */

import { equal, match } from "node:assert/strict";
import { realpathSync, symlinkSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { EXIT_FAILURE, EXIT_OK } from "../src/cli/main.ts";
import type { CacheEntry } from "../src/record.ts";
import denoJson from "../deno.json" with { type: "json" };
import { testEntry } from "./_entry.ts";
import { RUNTIME, RUNTIME_VERSION, start } from "./_runtime.ts";
import { tempDir } from "./_runtime.ts";
import { sqliteCacheFile } from "./_fixtures.ts";

const dir = realpathSync(tempDir("http_cache_cli_io_"));
let files = 0;
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const HOUR = 3_600_000;

/** The command line that starts a script on this runtime: `deno run` with narrow permissions. */
function runtime(): string[] {
  return RUNTIME === "deno"
    ? ["deno", "run", `--allow-read=${dir}`, `--allow-write=${dir}`, "--allow-env"]
    : [process.execPath, ...process.execArgv];
}

/** Runs the CLI in a child process, stdout and stderr each a pipe of their own. */
async function cli(args: string[], main = MAIN) {
  const [command, ...runtimeArgs] = runtime();
  return await start(command!, [...runtimeArgs, main, ...args], { capture: true }).exited;
}

/** A SQLite cache file holding `entries`, keyed as a session keys them. */
function sqliteFile(...entries: CacheEntry[]): Promise<string> {
  return sqliteCacheFile(join(dir, `cache_${files++}.db`), entries);
}

/** Three entries, one of them expired. */
function three(): CacheEntry[] {
  return [
    testEntry({ url: "https://a.example/one" }),
    testEntry({ url: "https://a.example/two" }),
    testEntry({ url: "https://a.example/stale", expiresAt: Date.now() - HOUR }),
  ];
}

/** An argument quoted for `sh`. */
function quoted(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

Deno.test("cli: off a terminal, stats and delete draw no progress bar on stderr", async () => {
  // docs/inspection.md: "On a terminal, long deletes and scans draw a progress bar on stderr; off
  // a terminal they draw nothing." Kills src/cli/io.ts:83 `deno.stderr.isTerminal()` -> `true`
  // (Deno) and :119 `process.stderr.isTTY === true` -> `!== false` (Node, Bun): stderr is a pipe.
  const path = await sqliteFile(...three());
  const stats = await cli([`sqlite:${path}`, "stats", "--json"]);
  equal(stats.code, EXIT_OK, stats.stderr);
  equal(stats.stderr, "");
  equal(JSON.parse(stats.stdout).entries, 3);
  const deleted = await cli([`sqlite:${path}`, "delete", "--expired"]);
  equal(deleted.code, EXIT_OK, deleted.stderr);
  equal(deleted.stderr, "");
  equal(deleted.stdout, "Deleted 1 entry.\n");
});

Deno.test("cli: on a terminal, a delete draws its progress bar as wide as the terminal, then erases it", async () => {
  // Kills src/cli/io.ts:84 `columns = deno.consoleSize().columns || 80` dropped or -> `80` (Deno),
  // :119 `interactive: process.stderr.isTTY === true` -> `false` and :120 `columns:
  // process.stderr.columns || 80` -> `80` (Node, Bun). util-linux `script` gives the CLI a
  // terminal 60 columns wide: "3 / 3 entries scanned" leaves 60 - 21 - 10 = 29 for the bar (40
  // on the 80 columns assumed when the width is unknown). One bar only: a delete of three
  // entries reports its progress once, at its end.
  const path = await sqliteFile(...three());
  const line = [...runtime(), MAIN, `sqlite:${path}`, "delete", "--expired"].map(quoted).join(" ");
  const shown = await start("bash", ["-c", 'script -qfec "stty cols 60; $0" /dev/null', line], {
    capture: true,
  }).exited;
  equal(shown.code, EXIT_OK, `${shown.stdout}${shown.stderr}`);
  equal(
    shown.stdout,
    `\r\x1b[K[${"#".repeat(29)}] 100%  3 / 3 entries scanned\r\x1b[KDeleted 1 entry.\r\n`,
  );
});

/**
 * Runs the CLI with stdout a pipe whose reader has exited before the CLI starts: bash ignores
 * SIGPIPE (as the runtimes do anyway) and writes into the pipe until `true` has exited and a
 * write fails, and only then starts the CLI on it. Every write of the CLI to stdout fails.
 */
async function cliIntoClosedPipe(args: string[]): Promise<{ code: number; stderr: string }> {
  const script = 'trap "" PIPE; { while printf x 2>/dev/null; do :; done; exec "$@"; } | true; ' +
    'echo "exit ${PIPESTATUS[0]}"';
  const { stdout, stderr } = await start("bash", ["-c", script, "bash", ...runtime(), MAIN, ...args], {
    capture: true,
  }).exited;
  const code = /^exit (\d+)$/m.exec(stdout);
  if (code === null) throw new Error(`no exit code in ${JSON.stringify(stdout)}; stderr: ${stderr}`);
  return { code: Number(code[1]), stderr };
}

Deno.test("cli: list, stats and show into a stdout closed early exit 0 with nothing on stderr", async () => {
  // docs/inspection.md, exit code 0: "also when ... stdout was closed early, as by `head`". Kills
  // src/cli/io.ts:106 `process.exit(0)` -> `process.exit(1)` on EPIPE, and the stdout "error"
  // listener dropped (Node, Bun).
  const path = await sqliteFile(
    ...three(),
    testEntry({ url: "https://a.example/big", body: new Uint8Array(300_000) }),
  );
  for (
    const args of [
      ["list"],
      ["list", "--json"],
      ["stats"],
      ["show", "https://a.example/one"],
      ["show", "https://a.example/big", "--body"],
    ]
  ) {
    const closed = await cliIntoClosedPipe([`sqlite:${path}`, ...args]);
    equal(closed.stderr, "", args.join(" "));
    equal(closed.code, EXIT_OK, args.join(" "));
  }
});

Deno.test("cli: --help and --version into a stdout closed early exit 0 with nothing on stderr", async () => {
  // A bug found by mutation testing of src/cli/io.ts: on Deno, `http-cache --help | true` threw
  // the BrokenPipe of the write out of run() (src/cli/run.ts:45, outside the try that turns a
  // broken pipe into exit 0), and exited 1 with a stack trace on stderr.
  for (const args of [["--help"], ["--version"]]) {
    const closed = await cliIntoClosedPipe(args);
    equal(closed.stderr, "", args.join(" "));
    equal(closed.code, EXIT_OK, args.join(" "));
  }
});

Deno.test("cli: a stdout that cannot be written is a failure: exit 1, one line naming the cause on stderr", async () => {
  // Bugs found by mutation testing. src/cli/io.ts:107 `throw error;` dropped survived: on Node the
  // stdout "error" listener rethrew every error but EPIPE, so `list > /dev/full` died of an
  // uncaught ENOSPC with a stack trace, before run() could report it (Deno and Bun reported it).
  // And --help and --version (src/cli/run.ts:45, outside run()'s try) ended in a stack trace on
  // every runtime. (docs/inspection.md: "Messages go to stderr, name the cache and the cause.")
  const path = await sqliteFile(...three());
  for (const args of [["list"], ["stats"], ["show", "https://a.example/one", "--body"]]) {
    const full = await cliIntoFullDevice([`sqlite:${path}`, ...args]);
    equal(full.code, EXIT_FAILURE, args.join(" "));
    match(
      full.stderr,
      /^http-cache: Cannot write to stdout: [^\n]*(ENOSPC|No space left on device)[^\n]*\n$/,
    );
  }
  const version = await cliIntoFullDevice(["--version"]);
  equal(version.code, EXIT_FAILURE);
  match(
    version.stderr,
    /^http-cache: Cannot write to stdout: [^\n]*(ENOSPC|No space left on device)[^\n]*\n$/,
  );
});

/** Runs the CLI with stdout on `/dev/full`, where every write fails with ENOSPC. */
async function cliIntoFullDevice(args: string[]) {
  return await start("bash", ["-c", 'exec "$@" >/dev/full', "bash", ...runtime(), MAIN, ...args], {
    capture: true,
  }).exited;
}

// Deno runs no bin link (`deno run jsr:@x/http-cache/cli`), and resolves the CLI's imports next to
// the link, not next to main.ts.
const binLinks = RUNTIME !== "deno";
if (!binLinks) console.log(`skipped on ${RUNTIME_VERSION}: a package's bin link runs on Node or Bun`);

Deno.test({
  name: "cli: started through a symlink to main.ts, as a package's bin link starts it",
  ignore: !binLinks,
  async fn() {
    // Kills src/cli/main.ts:1 the `#!/usr/bin/env node` line dropped (Node: the link is the
    // program, started by that line with this Node first on PATH), and src/cli/io.ts:73
    // `realpathSync(script)` -> `script` on a Node without import.meta.main (before 22.18).
    const link = join(dir, `http-cache-${files++}`);
    symlinkSync(MAIN, link);
    const version = RUNTIME === "node"
      ? await start(link, ["--version"], {
        capture: true,
        env: { PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` },
      }).exited
      : await cli(["--version"], link);
    equal(version.code, EXIT_OK, version.stderr);
    equal(version.stdout, `http-cache ${denoJson.version}\n`);
  },
});
