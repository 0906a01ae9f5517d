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
