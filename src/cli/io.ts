/**
 * The CLI's window on the process — arguments, stdout, stderr, terminal, exit — with one small
 * implementation for Deno and one for Node and Bun. Everything else in the CLI is portable.
 *
 * @module
 */

import { realpathSync } from "node:fs";
import process from "node:process";
import { pathToFileURL } from "node:url";

/** What the CLI needs from the process; tests pass their own. */
export interface CliIO {
  /** The command-line arguments after the program name. */
  readonly args: readonly string[];
  /**
   * Writes to stdout; resolves once the data is accepted, so a slow reader slows the CLI down
   * instead of filling memory.
   */
  out(data: string | Uint8Array): Promise<void>;
  /** Writes to stderr. */
  err(text: string): void;
  /** Whether stderr is a terminal: progress bars are drawn only then. */
  readonly interactive: boolean;
  /** Width of the terminal in columns (80 when unknown). */
  readonly columns: number;
}

const encoder = new TextEncoder();

interface DenoLike {
  args: string[];
  stdout: { write(data: Uint8Array): Promise<number> };
  stderr: { writeSync(data: Uint8Array): number; isTerminal(): boolean };
  consoleSize(): { columns: number };
  exit(code: number): never;
}

/**
 * The IO of the running process.
 *
 * @returns Deno's IO on Deno, `node:process` elsewhere.
 */
export function systemIO(): CliIO {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (deno !== undefined) return denoIO(deno);
  return nodeIO();
}

/**
 * Ends the process with an exit code, once stdout is written.
 *
 * @param code The exit code.
 */
export function exit(code: number): never {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (deno !== undefined) deno.exit(code);
  process.exit(code);
}

/**
 * Whether a module is the program being run: `import.meta.main` where the runtime has it (Deno,
 * Bun, Node 24.2+), else the script path of the process (Node 22).
 *
 * @param meta The module's `import.meta`.
 * @returns `true` for the entry module.
 */
export function isMain(meta: ImportMeta): boolean {
  const main = (meta as { main?: unknown }).main;
  if (typeof main === "boolean") return main;
  const script = process.argv[1];
  try {
    return script !== undefined && pathToFileURL(realpathSync(script)).href === meta.url;
  } catch {
    return false;
  }
}

function denoIO(deno: DenoLike): CliIO {
  let interactive = false;
  let columns = 80;
  try {
    interactive = deno.stderr.isTerminal();
    if (interactive) columns = deno.consoleSize().columns || 80;
  } catch {
    // Not a terminal after all.
  }
  return {
    args: deno.args,
    async out(data) {
      let bytes = typeof data === "string" ? encoder.encode(data) : data;
      while (bytes.length > 0) bytes = bytes.subarray(await deno.stdout.write(bytes));
    },
    err(text) {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) bytes = bytes.subarray(deno.stderr.writeSync(bytes));
    },
    interactive,
    columns,
  };
}

function nodeIO(): CliIO {
  // A closed pipe (`… | head`) ends the output: that is success, not a crash. Other errors reach
  // the write's callback too, and run() reports them.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
  });
  return {
    args: process.argv.slice(2),
    out(data) {
      return new Promise((resolve, reject) => {
        process.stdout.write(data, (error) => error ? reject(error) : resolve());
      });
    },
    err(text) {
      process.stderr.write(text);
    },
    interactive: process.stderr.isTTY === true,
    columns: process.stderr.columns || 80,
  };
}
