/**
 * Runs `Deno.test` files on Node and Bun, so one set of test files serves every runtime:
 *
 * ```sh
 * node tests/_runtime_runner.ts tests/session_test.ts tests/sqlite_test.ts
 * bun tests/_runtime_runner.ts tests/*_test.ts
 * ```
 *
 * `Deno.test` is `@deno/shim-deno-test` (Deno's own shim, which parses every overload of
 * `Deno.test` the way Deno does) and exists only while the files are imported: the tests then
 * run in a plain Node or Bun, where code that looks for `globalThis.Deno` finds nothing. Code
 * that decides on the runtime while it is imported must not look for that global (it is there
 * then): `process.versions` tells the runtimes apart. This runner executes what the shim
 * collected: `ignore` and `only`, `t.step`, a line per test and a summary; the exit code is 1
 * when a test failed.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import shim from "@deno/shim-deno-test";
import { RUNTIME_VERSION } from "./_runtime.ts";

type Fn = (t: Context) => void | Promise<void>;
type Definition = { name: string; fn: Fn; ignore?: boolean; only?: boolean };
type StepArgs = [Definition] | [string, Fn] | [Fn];

/** The part of `Deno.TestContext` the tests use. */
interface Context {
  name: string;
  origin: string;
  parent?: Context;
  step(...args: StepArgs): Promise<boolean>;
}

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string): string => color ? `\x1b[${code}m${text}\x1b[0m` : text;
const FAILED = paint(31, "FAILED"), OK = paint(32, "ok"), IGNORED = paint(33, "ignored");

// A test file that cannot even be imported outside Deno says so in a line of its own, with the
// reason: `// deno-only: uses Deno.serve`. Finer grained: `runsOn("deno", why)` in tests/_runtime.ts.
const DENO_ONLY = /^\/\/ deno-only: (.+)$/m;

// A test that never settles fails after this long and the run goes on (Deno would wait forever).
const TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 120_000);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node|bun tests/_runtime_runner.ts FILE_test.ts…");
  process.exit(2);
}

const global = globalThis as { Deno?: unknown };
const suites: { file: string; tests: Definition[] }[] = [];
global.Deno = shim.Deno;
try {
  for (const file of files) {
    const denoOnly = DENO_ONLY.exec(readFileSync(file, "utf8"))?.[1];
    if (denoOnly !== undefined) {
      console.log(`skipped on ${RUNTIME_VERSION}: ./${file} needs deno (${denoOnly})`);
      continue;
    }
    await import(pathToFileURL(resolve(file)).href);
    suites.push({ file, tests: shim.testDefinitions.splice(0) as Definition[] });
  }
} finally {
  delete global.Deno;
}

const failures: { name: string; error: unknown }[] = [];
// Whether the last thing printed is a test's "name ..." still waiting for its result.
let lineOpen = false;
let current = "(between tests)";
process.on("unhandledRejection", (error) => {
  failures.push({ name: `${current}: unhandled rejection`, error });
});

const onlyMode = suites.some(({ tests }) => tests.some((test) => test.only));
let passed = 0, ignored = 0;
const started = performance.now();
for (const { file, tests } of suites) {
  console.log(`running ${tests.length} tests from ./${file}`);
  for (const test of tests) {
    if (test.ignore || (onlyMode && !test.only)) {
      console.log(`${test.name} ... ${IGNORED}`);
      ignored++;
      continue;
    }
    current = test.name;
    const error = await run(test, context(test.name, file, undefined, 0));
    if (error === undefined) passed++;
    else failures.push({ name: test.name, error });
  }
}
current = "(after the tests)";
// A last turn of the event loop, so a rejection left behind by the last test is counted.
await new Promise((done) => setTimeout(done, 0));

for (const { name, error } of failures) {
  console.error(`\n${name} => ${FAILED}\n`, error);
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
const summary = `${passed} passed | ${failures.length} failed | ${ignored} ignored (${seconds}s)`;
console.log(`\n${failures.length === 0 ? OK : FAILED} | ${summary}`);
if (onlyMode) console.error(`${FAILED} because the "only" option was used`);
// Exit now: a leaked handle (a socket, a timer) must not keep the run alive; Deno's sanitizers
// report leaks when the same files run there.
process.exit(failures.length > 0 || onlyMode ? 1 : 0);

/** Runs a test or a step and prints its line; resolves to its error, if it failed. */
async function run(test: Definition, t: Context & { failedSteps: number }, depth = 0): Promise<unknown> {
  const line = `${"    ".repeat(depth)}${test.name} ...`;
  if (lineOpen) process.stdout.write("\n");
  process.stdout.write(line);
  lineOpen = true;
  const start = performance.now();
  let error: unknown;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      test.fn(t),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out: still running after ${TIMEOUT_MS} ms`)),
          TIMEOUT_MS,
        );
      }),
    ]);
    if (t.failedSteps > 0) error = new Error(`${t.failedSteps} step(s) failed`);
  } catch (thrown) {
    error = thrown ?? new Error(`${String(thrown)} was thrown`);
  } finally {
    clearTimeout(timer);
  }
  const result = `${error === undefined ? OK : FAILED} ${
    paint(2, `(${Math.round(performance.now() - start)}ms)`)
  }`;
  console.log(lineOpen ? ` ${result}` : `${line} ${result}`);
  lineOpen = false;
  return error;
}

function context(
  name: string,
  file: string,
  parent: Context | undefined,
  depth: number,
): Context & { failedSteps: number } {
  const t = {
    name,
    origin: pathToFileURL(resolve(file)).href,
    ...(parent === undefined ? {} : { parent }),
    failedSteps: 0,
    async step(...args: StepArgs): Promise<boolean> {
      const step: Definition = typeof args[0] === "function"
        ? { name: args[0].name, fn: args[0] }
        : typeof args[0] === "string"
        ? { name: args[0], fn: args[1] as Fn }
        : args[0];
      if (step.ignore) {
        if (lineOpen) process.stdout.write("\n");
        lineOpen = false;
        console.log(`${"    ".repeat(depth + 1)}${step.name} ... ${IGNORED}`);
        return false;
      }
      const error = await run(step, context(step.name, file, t, depth + 1), depth + 1);
      if (error === undefined) return true;
      t.failedSteps++;
      console.error(error);
      return false;
    },
  };
  return t;
}
