/**
 * The CLI as a function: arguments and IO in, exit code out. `main.ts` runs it on the process;
 * tests run it in-process or as a subprocess.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import {
  type Command,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  parseCommandLine,
  USAGE,
  UsageError,
} from "./args.ts";
import { clear, type CommandContext, list, NotFoundError, remove, show, stats } from "./commands.ts";
import type { CliIO } from "./io.ts";
import { openCache, OpenError, redactMessage } from "./open.ts";

const COMMANDS = { stats, list, show, delete: remove, clear };

/**
 * Runs the CLI.
 *
 * @param given The process: arguments, stdout, stderr, terminal.
 * @returns The exit code: {@linkcode EXIT_OK} (0), {@linkcode EXIT_FAILURE} (1) or
 *   {@linkcode EXIT_USAGE} (2).
 *
 * @example Run a command in-process
 * ```ts
 * import { run } from "./run.ts";
 * const code = await run({
 *   args: ["memory:", "stats"],
 *   out: () => Promise.resolve(),
 *   err: (text) => console.log(text.trim()),
 *   interactive: false,
 *   columns: 80,
 * });
 * console.log(code); // 2: a memory cache cannot be inspected from outside its process
 * ```
 */
export async function run(given: CliIO): Promise<number> {
  const io = { ...given, out: outputOf(given) };
  let invocation;
  try {
    invocation = parseCommandLine(io.args);
  } catch (error) {
    return usage(io, error);
  }
  if (invocation === "help" || invocation === "version") {
    try {
      await io.out(invocation === "help" ? USAGE : `http-cache ${denoJson.version}\n`);
    } catch (error) {
      return outputEnded(io, error);
    }
    return EXIT_OK;
  }
  if (invocation.command === "clear" && !invocation.yes) {
    return usage(
      io,
      new UsageError(`clear deletes every entry of ${invocation.cache}: run it again with --yes`),
    );
  }
  if (
    invocation.command === "delete" && invocation.positionals.length === 0 && !invocation.expired &&
    !invocation.valid && invocation.urlPattern === undefined && invocation.olderThan === undefined
  ) {
    return usage(
      io,
      new UsageError(
        "delete needs URLs or --expired, --valid, --older-than or --url (clear --yes deletes all)",
      ),
    );
  }
  let opened;
  try {
    opened = await openCache(invocation.cache);
  } catch (error) {
    if (error instanceof UsageError) return usage(io, error);
    report(io, (error as Error).message);
    return EXIT_FAILURE;
  }
  const context: CommandContext = { ...opened, run: invocation, io, now: Date.now() };
  try {
    await COMMANDS[invocation.command](context);
    return EXIT_OK;
  } catch (error) {
    if (isBrokenPipe(error) || error instanceof OutputFailure) return outputEnded(io, error);
    if (error instanceof TypeError) return usage(io, error);
    report(io, describeFailure(error, invocation.command, opened.label));
    return EXIT_FAILURE;
  } finally {
    await opened.cache.close().catch(() => {});
  }
}

function usage(io: CliIO, error: unknown): number {
  report(io, `${(error as Error).message}\nRun http-cache --help for usage.`);
  return EXIT_USAGE;
}

/**
 * Writes a message to stderr, with the passwords of the command line's URLs replaced by `***`:
 * a message may quote the cache URL as given, or a driver's own words about it.
 */
function report(io: CliIO, message: string): void {
  io.err(`http-cache: ${redactMessage(message, io.args)}\n`);
}

/** A message that names the cache and the root cause (an unreachable server, a refused login…). */
function describeFailure(error: unknown, command: Command, label: string): string {
  if (error instanceof NotFoundError || error instanceof OpenError) return error.message;
  let cause: unknown = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const reason = cause instanceof Error ? cause.message || cause.name : String(cause);
  const unreachable = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|no answer|timed out|Server selection/i
    .test(reason);
  return unreachable ? `Cannot reach ${label}: ${reason}` : `Cannot ${ACTS[command]} ${label}: ${reason}`;
}

/** What each command does to the cache, as its failure message says it. */
const ACTS: Record<Command, string> = {
  stats: "read the statistics of",
  list: "list",
  show: "show an entry of",
  delete: "delete from",
  clear: "clear",
};

/**
 * The exit code once a write to stdout failed: 0 for a pipe closed early (`… | head -1`), which is
 * no failure; else 1, the {@linkcode OutputFailure} reported.
 */
function outputEnded(io: CliIO, error: unknown): number {
  if (isBrokenPipe(error)) return EXIT_OK;
  report(io, (error as Error).message);
  return EXIT_FAILURE;
}

/** A write to stdout that failed, other than into a pipe closed early: the output's failure. */
class OutputFailure extends Error {}

/**
 * Writes to stdout, failing with an {@linkcode OutputFailure} that says so (a full disk is no
 * failure of the cache's).
 */
function outputOf(io: CliIO): CliIO["out"] {
  return async (text) => {
    try {
      await io.out(text);
    } catch (error) {
      if (isBrokenPipe(error)) throw error;
      throw new OutputFailure(`Cannot write to stdout: ${(error as Error).message}`, { cause: error });
    }
  };
}

function isBrokenPipe(error: unknown): boolean {
  return error instanceof Error &&
    (error.name === "BrokenPipe" || (error as { code?: string }).code === "EPIPE");
}
