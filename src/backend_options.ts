/**
 * Validation of the options every backend shares, with one message shape: the backend, the
 * option, what is allowed and what was received (a URL's password masked: {@linkcode redact}).
 *
 * @module
 */

import { describe } from "./expiration.ts";

/**
 * A positive integer option (a bound, a size, a timeout), or its default.
 *
 * @example A bound left out takes its default; a bad one is refused by name
 * ```ts
 * import { positiveInteger } from "./backend_options.ts";
 *
 * console.log(positiveInteger("MemoryBackend", "maxEntries", undefined, 10_000)); // 10000
 * try {
 *   positiveInteger("MemoryBackend", "maxEntries", 1.5, 10_000);
 * } catch (error) {
 *   console.log((error as Error).message);
 *   // Cannot create MemoryBackend: maxEntries must be a positive integer: received 1.5
 * }
 * ```
 *
 * @param backend The class being created.
 * @param option The option's name.
 * @param value What was given.
 * @param fallback The default when nothing was given (none: the option stays unset).
 * @returns The value, or the default.
 * @throws {TypeError} When the value given is not a number (a string read from the environment, say).
 * @throws {RangeError} When the value given is a number but not a positive safe integer.
 */
export function positiveInteger<Fallback extends number | undefined = undefined>(
  backend: string,
  option: string,
  value: number | undefined,
  fallback?: Fallback,
): number | Fallback {
  if (value === undefined) return fallback as Fallback;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create ${backend}: ${option} must be a positive integer: received ${describe(value)}`,
    );
  }
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Cannot create ${backend}: ${option} must be a positive integer: received ${value}`);
  }
  return value;
}

/** The longest timer the runtimes arm: a longer delay fires at once (after 1 ms), not later. */
export const MAX_TIMEOUT = 2 ** 31 - 1;

/**
 * A time limit in milliseconds, or its default: a positive integer no longer than the longest
 * timer ({@linkcode MAX_TIMEOUT}, about 24.8 days). A longer one would be armed as 1 ms by the
 * runtime's timers and the drivers' own, failing every call at once.
 *
 * @param backend The class being created.
 * @param option The option's name.
 * @param value What was given.
 * @param fallback The default when nothing was given.
 * @returns The value, or the default.
 * @throws {TypeError} When the value given is not a number.
 * @throws {RangeError} When the value given is not a positive integer of at most {@linkcode MAX_TIMEOUT}.
 */
export function timeLimit(
  backend: string,
  option: string,
  value: number | undefined,
  fallback: number,
): number {
  const ms = positiveInteger(backend, option, value, fallback);
  if (ms > MAX_TIMEOUT) {
    throw new RangeError(
      `Cannot create ${backend}: ${option} must be a positive integer of at most ${MAX_TIMEOUT} ms ` +
        `(the longest timer): received ${ms}`,
    );
  }
  return ms;
}

/**
 * A non-negative integer option (a wait that may be none), or nothing.
 *
 * @param backend The class being created.
 * @param option The option's name.
 * @param value What was given.
 * @returns The value.
 * @throws {TypeError} When the value given is not a number.
 * @throws {RangeError} When the value given is a number but not a non-negative safe integer.
 */
export function nonNegativeInteger(
  backend: string,
  option: string,
  value: number | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create ${backend}: ${option} must be a non-negative integer: received ${describe(value)}`,
    );
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create ${backend}: ${option} must be a non-negative integer: received ${value}`,
    );
  }
  return value;
}

/**
 * The userinfo of each URL in a text: scheme, `//` and username (group 1), then `:` and the
 * password (group 2) up to the authority's last `@`, where URL parsers end userinfo, so a
 * password may hold `@`. Anywhere in the text: a `kv:https://…` URL, or one in a message.
 */
export const USERINFO = /([a-z][a-z0-9+.-]*:\/\/[^/?#:\s]*):([^/?#\s]*)@/gi;

/**
 * Replaces the password of every URL in a text with `***`, for messages.
 *
 * @param text A cache URL, or a message.
 * @returns The text without passwords.
 */
export function redact(text: string): string {
  return text.replace(USERINFO, "$1:***@");
}

/**
 * Refuses options that are not an object, or that name an option the backend does not have: a
 * misspelt one would otherwise be ignored, and its default used without a word. Returns the
 * options as read once, at construction, in a plain object of their own: each option the backend
 * has, own or inherited (a class's getters, `Object.create(defaults)`, which a spread drops), and
 * nothing the caller changes in its object afterwards, which would go unchecked.
 *
 * @example A misspelt option is refused by name, with the ones allowed
 * ```ts
 * import { knownOptions } from "./backend_options.ts";
 *
 * try {
 *   knownOptions("RedisBackend", { prefx: "app:" } as { url?: string; prefix?: string }, { url: true, prefix: true });
 * } catch (error) {
 *   console.log((error as Error).message);
 *   // Cannot create RedisBackend: unknown option "prefx": allowed are url, prefix
 * }
 * ```
 *
 * @param backend The class being created.
 * @param options What was given.
 * @param known Every option of the backend, each once (the type checks the list against the
 *   options' interface).
 * @returns The options read, those not `undefined`.
 * @throws {TypeError} When `options` is not an object, or names an option not in `known`.
 */
export function knownOptions<Options extends object>(
  backend: string,
  options: Options,
  known: { readonly [Name in keyof Required<Options>]: true },
): Options {
  // (A Map or an array holds its entries where no option is read: all would take their defaults.)
  if (typeof options !== "object" || options === null || Symbol.iterator in options) {
    throw new TypeError(`Cannot create ${backend}: options must be an object: received ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(known, name)) {
      const allowed = Object.keys(known).join(", ");
      throw new TypeError(
        `Cannot create ${backend}: unknown option ${JSON.stringify(name)}: allowed are ${allowed}`,
      );
    }
  }
  const read: Record<string, unknown> = {};
  for (const name of Object.keys(known)) {
    const value: unknown = (options as Record<string, unknown>)[name];
    if (value !== undefined) read[name] = value;
  }
  return read as Options;
}

/**
 * A string option that must not be empty (a path, a URL, a key prefix), or `undefined`.
 *
 * @param backend The class being created.
 * @param option The option's name.
 * @param value What was given.
 * @param what What the string is, for the message ("a non-empty string", "a redis:// URL").
 * @returns The value.
 * @throws {TypeError} When the value is given and is not a non-empty string.
 */
export function nonEmptyString(
  backend: string,
  option: string,
  value: unknown,
  what = "a non-empty string",
): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new TypeError(
      `Cannot create ${backend}: ${option} must be ${what}: received ${redact(describe(value))}`,
    );
  }
  return value;
}

/**
 * An injected object (a client, a database handle, a collection), checked by the methods the
 * backend calls on it: one of the wrong kind fails at construction, not on every request.
 *
 * @param backend The class being created.
 * @param option The option's name.
 * @param value What was given.
 * @param methods The methods the backend calls.
 * @param what What is expected, for the message ("a connected @redis/client client").
 * @throws {TypeError} When the value is given and lacks one of the methods.
 */
export function injected(
  backend: string,
  option: string,
  value: unknown,
  methods: readonly string[],
  what: string,
): void {
  if (value === undefined) return;
  const candidate = value as Record<string, unknown> | null;
  const missing = typeof candidate !== "object" || candidate === null
    ? undefined
    : methods.find((method) => typeof candidate[method] !== "function");
  if (typeof candidate !== "object" || candidate === null || missing !== undefined) {
    const lacking = missing === undefined ? "" : ` (it has no ${missing}())`;
    throw new TypeError(
      `Cannot create ${backend}: ${option} must be ${what}: received ${redact(describe(value))}${lacking}`,
    );
  }
}

/**
 * Refuses two options that each say where the data is (`path` and `database`, `path` and `kv`):
 * the one left unused would be ignored without a word.
 *
 * @param backend The class being created.
 * @param options What was given.
 * @param a One option's name.
 * @param b The other's.
 * @throws {TypeError} When both are given.
 */
export function eitherOf<Options extends object>(
  backend: string,
  options: Options,
  a: keyof Options & string,
  b: keyof Options & string,
): void {
  if (options[a] !== undefined && options[b] !== undefined) {
    throw new TypeError(`Cannot create ${backend}: give either ${a} or ${b}, not both`);
  }
}
