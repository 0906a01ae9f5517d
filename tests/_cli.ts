/**
 * The CLI run in-process, with an IO that records what it writes.
 *
 * @module
 */

import { type CliIO, run } from "../src/cli/main.ts";

/** An IO that keeps what the CLI writes to stdout and stderr. */
export type RecordedIO = CliIO & { stdout: () => string; stderr: string };

/**
 * An IO that records what the CLI writes; `out` fails as `failOut` says.
 *
 * @param args The command line.
 * @param options Whether it runs on a terminal (`interactive`), and how `out` fails, if it does.
 * @returns The IO; `stdout()` decodes what was written so far.
 */
export function recorder(
  args: string[],
  { interactive = false, failOut }: { interactive?: boolean; failOut?: () => Error } = {},
): RecordedIO {
  const chunks: Uint8Array[] = [];
  const io = {
    args,
    stderr: "",
    out(data: string | Uint8Array) {
      if (failOut !== undefined) return Promise.reject(failOut());
      chunks.push(typeof data === "string" ? new TextEncoder().encode(data) : data.slice());
      return Promise.resolve();
    },
    err(text: string) {
      io.stderr += text;
    },
    interactive,
    columns: 100,
    // (Decoded whole: a character may be split between two writes.)
    stdout: () => new TextDecoder().decode(joined(chunks)),
  };
  return io;
}

/**
 * Runs the CLI in-process.
 *
 * @param args The command line.
 * @param options As for {@linkcode recorder}.
 * @returns The exit code and what it wrote.
 */
export async function runCli(
  args: string[],
  options?: Parameters<typeof recorder>[1],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = recorder(args, options);
  const code = await run(io);
  return { code, stdout: io.stdout(), stderr: io.stderr };
}

function joined(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
