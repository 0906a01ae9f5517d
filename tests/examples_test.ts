/**
 * Every file in `examples/` runs here, so none can rot: each runtime runs the examples written
 * for it, in a child process of the very runtime (and version) running the tests, and checks
 * that they print a miss, then hits.
 */

import { deepEqual } from "node:assert/strict";
import { readdirSync } from "node:fs";
import process from "node:process";
import { runsOn, RUNTIME, type RuntimeName, start, tempDir } from "./_runtime.ts";

interface Example {
  /** The file in examples/. */
  file: string;
  /** The runtime it is written for. */
  runtime: RuntimeName;
  /** The command line after the runtime's binary (`deno run …`, `node …`). */
  args: string[];
  /** Outcomes it must print, in order. */
  outcomes: string[];
  /** Extra environment. */
  env?: () => Record<string, string>;
}

const EXAMPLES: Example[] = [
  {
    file: "deno.ts",
    runtime: "deno",
    args: ["run", "--allow-net=127.0.0.1", "--allow-read", "--allow-write", "examples/deno.ts"],
    outcomes: ["miss", "hit", "hit"],
  },
  {
    file: "deno_deploy.ts",
    runtime: "deno",
    args: ["run", "--unstable-kv", "--allow-net=127.0.0.1", "examples/deno_deploy.ts"],
    outcomes: ["miss", "hit"],
    // The default KV database lives in DENO_DIR: a fresh one, so the first request is a miss.
    env: () => ({ DENO_DIR: tempDir("http_cache_deno_dir_") }),
  },
  {
    file: "demo.ts",
    runtime: "deno",
    args: ["task", "demo"],
    outcomes: ["miss", "hit", "hit", "revalidated"],
  },
  {
    file: "node.mjs",
    runtime: "node",
    // The flags this Node runs with (Node 22: --experimental-strip-types) for the .ts imports.
    args: [...process.execArgv, "examples/node.mjs"],
    outcomes: ["miss", "hit"],
  },
  { file: "bun.ts", runtime: "bun", args: ["examples/bun.ts"], outcomes: ["miss", "hit"] },
];

/** Files of examples/ that are not programs: a test imports them. */
const IMPORTED = ["map_storage.ts"];

Deno.test("examples: every file in examples/ is run by this test or imported by one", () => {
  const files = readdirSync(new URL("../examples/", import.meta.url)).sort();
  deepEqual(files, [...EXAMPLES.map((example) => example.file), ...IMPORTED].sort());
});

for (const example of EXAMPLES) {
  Deno.test({
    name: `examples: ${example.file} prints ${example.outcomes.join(", ")}`,
    ...runsOn(example.runtime, `examples/${example.file} is written for it`),
    async fn() {
      // Deno: `deno` as --allow-run names it; elsewhere the running binary itself.
      const binary = RUNTIME === "deno" ? "deno" : process.execPath;
      const child = start(binary, example.args, {
        capture: true,
        env: { NO_COLOR: "1", ...example.env?.() },
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const { code, stdout, stderr } = await child.exited.finally(() => clearTimeout(timer));
      const output = `exit code ${code}\n${stdout}\n${stderr}`;
      deepEqual(code, 0, output);
      deepEqual(
        [...stdout.matchAll(/\b(miss|hit|revalidated)\b/g)].map((match) => match[1]),
        example.outcomes,
        output,
      );
    },
  });
}
