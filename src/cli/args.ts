/**
 * Command-line parsing of the CLI: `http-cache <cache> <command> [arguments] [options]`.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Exit code of a run that did what was asked. */
export const EXIT_OK = 0;
/**
 * Exit code of a run that failed: the cache cannot be opened or reached, or `show` found nothing (a
 * `list` or `delete` that matches nothing is done, {@linkcode EXIT_OK}).
 */
export const EXIT_FAILURE = 1;
/**
 * Exit code of a run with wrong arguments: unknown command or option, bad duration, unsupported
 * cache URL, `clear` without `--yes`.
 */
export const EXIT_USAGE = 2;

/** The commands. */
export type Command = "stats" | "list" | "show" | "delete" | "clear";

/** A parsed command line. */
export interface Invocation {
  /** The cache URL as given (`sqlite:./http_cache.db`). */
  cache: string;
  /** The command. */
  command: Command;
  /** Arguments after the command (URLs, keys). */
  positionals: string[];
  /** `--json`: machine-readable output. */
  json: boolean;
  /** `--expired`. */
  expired: boolean;
  /** `--valid`. */
  valid: boolean;
  /** `--url PATTERN`. */
  urlPattern: string | undefined;
  /** `--older-than DURATION`, in seconds. */
  olderThan: number | undefined;
  /** `--limit N`. */
  limit: number | undefined;
  /** `--body`: the whole body, raw. */
  body: boolean;
  /** `--yes`. */
  yes: boolean;
}

/** A command line that cannot be run as given; the CLI exits with {@linkcode EXIT_USAGE}. */
export class UsageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong and how to fix it.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const OPTIONS = {
  json: { type: "boolean" },
  expired: { type: "boolean" },
  valid: { type: "boolean" },
  url: { type: "string" },
  "older-than": { type: "string" },
  limit: { type: "string" },
  body: { type: "boolean" },
  yes: { type: "boolean", short: "y" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

/** Options each command accepts (beyond `--json` and `--help`). */
const ACCEPTS: Record<Command, readonly string[]> = {
  stats: [],
  list: ["expired", "valid", "url", "older-than", "limit"],
  show: ["body"],
  delete: ["expired", "valid", "url", "older-than"],
  clear: ["yes"],
};

const COMMANDS = Object.keys(ACCEPTS) as Command[];

/**
 * Parses the command line.
 *
 * @param args The arguments after the program name.
 * @returns The invocation, or `"help"` / `"version"` when those were asked for.
 * @throws {UsageError} When the arguments are wrong.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const run = parseCommandLine(["sqlite:./http_cache.db", "delete", "--older-than", "7d"]);
 * console.log(run !== "help" && run !== "version" && run.olderThan); // 604800
 * ```
 */
export function parseCommandLine(args: readonly string[]): Invocation | "help" | "version" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(parseError((error as Error).message));
  }
  const { values, positionals, tokens } = parsed;
  // A value option given twice would count once, the last: `delete --url A --url B` deleted what
  // matches B alone, some of it outside A, where every option given is to hold.
  const given = new Map<string, string>();
  for (const token of tokens) {
    if (token.kind !== "option" || OPTIONS[token.name as keyof typeof OPTIONS]?.type !== "string") continue;
    const first = given.get(token.name);
    if (first !== undefined) {
      const values = `${JSON.stringify(first)}, ${JSON.stringify(token.value)}`;
      throw new UsageError(`--${token.name} is given twice (${values}): give it once`);
    }
    given.set(token.name, token.value ?? "");
  }
  if (values.help || positionals[0] === "help") return "help";
  if (values.version) return "version";
  const [cache, command, ...rest] = positionals;
  if (cache === undefined) {
    throw new UsageError("Missing the cache: give a cache URL such as sqlite:./http_cache.db");
  }
  if (command === undefined) {
    // (`http-cache stats`: the command was given, the cache before it was not.)
    if ((COMMANDS as string[]).includes(cache)) {
      throw new UsageError(`Missing the cache before ${cache}: http-cache sqlite:./http_cache.db ${cache}`);
    }
    throw new UsageError(`Missing the command after ${cache}: one of ${COMMANDS.join(", ")}`);
  }
  if (!(COMMANDS as string[]).includes(command)) {
    const hint = (COMMANDS as string[]).includes(cache)
      ? ` (the cache comes first: http-cache CACHE ${cache})`
      : "";
    throw new UsageError(`Unknown command ${JSON.stringify(command)}: use ${COMMANDS.join(", ")}${hint}`);
  }
  const accepted = ACCEPTS[command as Command];
  for (const name of Object.keys(values)) {
    if (name !== "json" && !accepted.includes(name)) {
      throw new UsageError(`${command} does not take --${name}`);
    }
  }
  if (values.expired && values.valid) {
    throw new UsageError("Give --expired or --valid, not both: no entry is both");
  }
  // (`--json` promises a JSON document: a script would take a JSON body for the one about it.)
  if (values.body && values.json) {
    throw new UsageError("Give --body or --json, not both: --body writes the body as stored, not JSON");
  }
  if (command === "show" && rest.length !== 1) {
    throw new UsageError("show takes one URL or cache key: http-cache CACHE show https://example.com/page");
  }
  if (command !== "show" && command !== "delete" && rest.length > 0) {
    throw new UsageError(`${command} takes no arguments: received ${rest.join(" ")}`);
  }
  return {
    cache,
    command: command as Command,
    positionals: rest,
    json: values.json ?? false,
    expired: values.expired ?? false,
    valid: values.valid ?? false,
    urlPattern: values.url,
    olderThan: values["older-than"] === undefined ? undefined : parseDuration(values["older-than"]),
    limit: values.limit === undefined ? undefined : parseLimit(values.limit),
    body: values.body ?? false,
    yes: values.yes ?? false,
  };
}

/** A parse error of `node:util` in one line, in the CLI's words (`--url`, not `'--url <value>'`). */
function parseError(message: string): string {
  const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1];
  // (Bun names an unknown short option of a group, `-yx`, without its dash.)
  if (unknown !== undefined) return `Unknown option ${unknown.startsWith("-") ? unknown : `-${unknown}`}`;
  const option = /^Option '(-[^' ]+)(?: <value>)?' argument (missing|is ambiguous)/.exec(message);
  if (option === null) return message.replaceAll("\n", " ");
  return option[2] === "missing"
    ? `${option[1]} needs a value`
    : `${option[1]} needs a value: a value that starts with a dash is given as ${option[1]}=VALUE`;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Parses a duration such as `90s`, `15m`, `12h`, `7d` or `2w` (a bare number is seconds). Units
 * are read in either case (`7D`), but for `M`: minutes to some, months to others.
 *
 * @param text The duration.
 * @returns Seconds.
 * @throws {UsageError} When it is not a duration.
 */
export function parseDuration(text: string): number {
  // Units in either case, but M: minutes to some, months to others (systemd, ISO 8601).
  const match = /^(\d+(?:\.\d+)?)([smhdw]?)$/i.exec(text.trim());
  if (match === null || match[2] === "M") {
    throw new UsageError(
      `--older-than must be a duration such as 30s, 15m, 12h, 7d or 2w (units s, m, h, d, w; ` +
        `m is minutes, M is refused): received ${JSON.stringify(text)}`,
    );
  }
  return Number(match[1]) * UNITS[(match[2] || "s").toLowerCase()]!;
}

function parseLimit(text: string): number {
  // (Digits only: Number() also takes "0x10", "1e3" and " 5".)
  const limit = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(limit) || limit <= 0) {
    throw new UsageError(`--limit must be a positive integer: received ${JSON.stringify(text)}`);
  }
  return limit;
}

/** The help text. */
export const USAGE = `http-cache: inspect and manage an @x/http-cache cache

Usage: http-cache CACHE COMMAND [ARGUMENTS] [OPTIONS]

CACHE
  sqlite:PATH                 a SQLite file, e.g. sqlite:./http_cache.db
  redis://HOST[:PORT][/DB]    a Redis server (rediss:// for TLS); add ?prefix=KEY_PREFIX
                              for another key prefix than http-cache:v1:
  mongodb://HOST[:PORT]/DB    a MongoDB database (mongodb+srv:// too); add
                              ?collection=NAME for another collection than responses_v1
  kv:PATH                     a Deno KV file or KV Connect URL (Deno: run with --unstable-kv)

COMMAND
  stats                       entries, fresh and expired, bytes, oldest and newest
  list                        one line per entry: status, size, age, expiry, URL
      --expired | --valid     only expired / only fresh entries
      --url PATTERN           only URLs matching a glob, e.g. 'api.example.com/v2/*'
      --older-than DURATION   only entries created at least this long ago (30s, 15m, 12h, 7d, 2w)
      --limit N               stop after N entries
  show URL|KEY                metadata, headers and a body preview of the entries of a URL
      --body                  write the whole body to stdout instead, as stored (not with --json)
  delete URL...               delete every entry stored for the URLs
  delete --expired | --valid | --older-than DURATION | --url PATTERN
                              delete the entries that match all the options given
  clear --yes                 delete every entry

OPTIONS
  --json                      machine-readable output (a JSON document on stdout)
  -h, --help                  this help
  -V, --version               the version

Exit codes: 0 success, 1 failure (the cache cannot be opened or reached, nothing to show),
2 usage error (unknown command or option, bad cache URL).
`;
