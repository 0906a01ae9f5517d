#!/usr/bin/env node
/**
 * `http-cache`: look into and manage a persistent `@x/http-cache` cache from the command line.
 *
 * ```sh
 * deno run -A jsr:@x/http-cache/cli sqlite:./http_cache.db stats
 * deno run -A jsr:@x/http-cache/cli redis://127.0.0.1:6379 list --expired --url 'api.example.com/*'
 * deno run -A jsr:@x/http-cache/cli sqlite:./http_cache.db show https://api.example.com/users
 * deno run -A jsr:@x/http-cache/cli sqlite:./http_cache.db delete --older-than 7d
 * deno run -A jsr:@x/http-cache/cli mongodb://127.0.0.1:27017/http_cache clear --yes
 * node src/cli/main.ts sqlite:./http_cache.db stats --json   # Node 24, from a checkout
 * ```
 *
 * Tables by default, `--json` for scripts, a progress bar on stderr for long deletes when it is
 * a terminal. Exit codes: 0 success, 1 failure (the cache cannot be opened or reached, nothing
 * to show), 2 usage error. `http-cache --help` lists everything; see also docs/inspection.md.
 *
 * Deno needs `--allow-read` and `--allow-write` for a SQLite or KV file, `--allow-net` for a
 * server, `--allow-env` for the drivers, and `--unstable-kv` for `kv:` caches.
 *
 * @example Run the CLI from code, with its own IO
 * ```ts
 * import { run } from "./main.ts";
 * const code = await run({
 *   args: ["--version"],
 *   out: (text) => Promise.resolve(console.log(String(text).trim())),
 *   err: () => {},
 *   interactive: false,
 *   columns: 80,
 * });
 * console.log(code); // 0
 * ```
 *
 * @module
 */

import { exit, isMain, systemIO } from "./io.ts";
import { run } from "./run.ts";

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./args.ts";
export type { CliIO } from "./io.ts";
export { run } from "./run.ts";

if (isMain(import.meta)) exit(await run(systemIO()));
