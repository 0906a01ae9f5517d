/**
 * Which runtime runs the tests, and how a test that needs one runtime says so.
 *
 * The same `Deno.test` files run on Deno (`deno task test`) and, through
 * `tests/_runtime_runner.ts`, on Node and Bun. A test that needs one runtime's API is marked
 * with {@linkcode runsOn} and skipped elsewhere with a printed reason, never silently.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import process from "node:process";

/** A runtime the tests run on. */
export type RuntimeName = "deno" | "node" | "bun";

/** The runtime running this process. */
export const RUNTIME: RuntimeName = process.versions.deno ? "deno" : process.versions.bun ? "bun" : "node";

/** The runtime and its version, as error messages and reports name it (`"Node 22.23.3"`). */
export const RUNTIME_VERSION: string = {
  deno: `Deno ${process.versions.deno}`,
  bun: `Bun ${process.versions.bun}`,
  node: `Node ${process.versions.node}`,
}[RUNTIME];

const printed = new Set<string>();

/**
 * Marks a test that runs only on `runtime`: elsewhere it is ignored, and the reason is printed
 * once.
 *
 * @param runtime The runtime the test needs.
 * @param why What it needs from that runtime (`"Deno.openKv"`).
 * @returns Options to spread into the `Deno.test` definition.
 *
 * @example A test of a Deno API
 * ```ts ignore
 * Deno.test({ name: "kv: watch", ...runsOn("deno", "Deno.Kv.watch"), fn: async () => {} });
 * ```
 */
export function runsOn(runtime: RuntimeName, why: string): { ignore: boolean } {
  const ignore = RUNTIME !== runtime;
  const reason = `skipped on ${RUNTIME_VERSION}: needs ${runtime} (${why})`;
  if (ignore && !printed.has(reason)) {
    printed.add(reason);
    console.log(reason);
  }
  return { ignore };
}

/**
 * Creates a directory under the system's temporary directory (`TMPDIR`), removed when the
 * process (on Deno: the test module) ends.
 *
 * @param prefix Start of the directory's name.
 * @returns Its path.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", remove);
  // Deno runs each test module in its own worker, which ends with "unload", not "exit".
  (globalThis as { addEventListener?: (type: string, listener: () => void) => void })
    .addEventListener?.("unload", remove);
  return dir;
}

/** A signal a test sends to a child process. */
export type ChildSignal = "SIGSTOP" | "SIGCONT" | "SIGTERM" | "SIGKILL";

/** A child process a test started with {@linkcode start}. */
export interface Child {
  /** Sends a signal; a signal to a process that has exited is dropped. */
  kill(signal: ChildSignal): void;
  /** Everything it printed, once it has exited. */
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Options of {@linkcode start}. */
export interface StartOptions {
  /** Variables added to the inherited environment. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Whether to collect stdout and stderr (else stdout is dropped and stderr shown). */
  capture?: boolean;
}

/**
 * Starts a child process that inherits the environment.
 *
 * On Deno this is `Deno.Command`, elsewhere `node:child_process`: Deno's `node:child_process`
 * reads the whole environment (which the test task's `--allow-env` list forbids) and sends only
 * the first signal to a child, so a test could not stop and continue a server.
 *
 * @param command The program, found on PATH (Deno: one named by `--allow-run`).
 * @param args Its arguments.
 * @param options Environment, directory and output.
 * @returns The running child.
 */
export function start(command: string, args: string[], options: StartOptions = {}): Child {
  const capture = options.capture ?? false;
  if (RUNTIME === "deno") {
    const child = new Deno.Command(command, {
      args,
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdin: "null",
      stdout: capture ? "piped" : "null",
      stderr: capture ? "piped" : "inherit",
    }).spawn();
    const decoder = new TextDecoder();
    let done = false;
    return {
      kill(signal) {
        if (!done) child.kill(signal);
      },
      exited: (capture
        ? child.output()
        : child.status.then((status) => ({ ...status, stdout: null, stderr: null })))
        .then(({ code, signal, stdout, stderr }) => {
          done = true;
          return {
            code: signal === null ? code : null,
            stdout: stdout ? decoder.decode(stdout) : "",
            stderr: stderr ? decoder.decode(stderr) : "",
          };
        }),
    };
  }
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: ["ignore", capture ? "pipe" : "ignore", capture ? "pipe" : "inherit"],
  });
  let stdout = "", stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (text: string) => void (stdout += text));
  child.stderr?.setEncoding("utf8").on("data", (text: string) => void (stderr += text));
  return {
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    exited: new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    }),
  };
}

/** The repository root, for the imports of a child's code ({@linkcode runCollecting}). */
const ROOT = new URL("../", import.meta.url).href;

/**
 * Runs `code` (an ES module, in which `ROOT` is the repository root) in a child process of this
 * runtime, its collector exposed (`globalThis.gc`, or `Bun.gc`).
 *
 * @param code The module's source.
 * @returns The child, its output captured.
 */
export function runCollecting(code: string): Child {
  const source = `const ROOT = ${JSON.stringify(ROOT)};\n${code}`;
  if (RUNTIME === "deno") {
    return start("deno", ["eval", "--unstable-kv", "--v8-flags=--expose-gc", source], { capture: true });
  }
  if (RUNTIME === "bun") return start(process.execPath, ["--eval", source], { capture: true });
  const args = [...process.execArgv, "--expose-gc", "--input-type=module", "--eval", source];
  return start(process.execPath, args, { capture: true });
}
