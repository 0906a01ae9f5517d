/**
 * Validation of the options every backend shares, with one message shape: the backend, the
 * option, what is allowed and what was received (a URL's password masked: {@linkcode redact}).
 *
 * @module
 */

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
 * @throws {RangeError} When the value given is not a positive safe integer.
 */
export function positiveInteger<Fallback extends number | undefined = undefined>(
  backend: string,
  option: string,
  value: number | undefined,
  fallback?: Fallback,
): number | Fallback {
  if (value === undefined) return fallback as Fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Cannot create ${backend}: ${option} must be a positive integer: received ${value}`);
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
 * misspelt one would otherwise be ignored, and its default used without a word.
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
 * @throws {TypeError} When `options` is not an object, or names an option not in `known`.
 */
export function knownOptions<Options extends object>(
  backend: string,
  options: Options,
  known: { readonly [Name in keyof Required<Options>]: true },
): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot create ${backend}: options must be an object: received ${String(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(known, name)) {
      const allowed = Object.keys(known).join(", ");
      throw new TypeError(
        `Cannot create ${backend}: unknown option ${JSON.stringify(name)}: allowed are ${allowed}`,
      );
    }
  }
}
