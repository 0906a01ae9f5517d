/**
 * The error family of http-cache. Failures of a storage backend are {@linkcode BackendError}s (an
 * {@linkcode HttpCacheError}) and reach the session's `onError` hook instead of the caller;
 * invalid options and arguments throw `TypeError` or `RangeError`, as the platform's own do. And
 * the one driver error the file backends try again on: {@linkcode isLocked}.
 *
 * @module
 */

const BRAND = Symbol.for("@x/http-cache/error");

/**
 * Base class of the errors raised by http-cache.
 *
 * @example Catch any error of the library
 * ```ts
 * import { HttpCacheError } from "./errors.ts";
 * try {
 *   throw new HttpCacheError("Cannot decode cache record: unknown version 9");
 * } catch (error) {
 *   if (HttpCacheError.is(error)) console.log(error.message);
 * }
 * ```
 */
export class HttpCacheError extends Error {
  /**
   * Creates an error.
   *
   * @param message What went wrong, in sentence case without a final period.
   * @param options The standard `ErrorOptions` (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpCacheError";
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * Tells whether a value is an http-cache error, also across realms and duplicate copies of
   * the library, where `instanceof` fails.
   *
   * @param value Any value.
   * @returns `true` for an {@linkcode HttpCacheError} or a subclass.
   */
  static is(value: unknown): value is HttpCacheError {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/**
 * A storage backend failed: it was unreachable, timed out, or returned a record that cannot be
 * decoded. The session never lets it fail a request; it is passed to `onError`.
 *
 * @example Inspect a backend failure
 * ```ts
 * import { BackendError } from "./errors.ts";
 * const error = new BackendError("Cannot read redis storage: connection refused", { backend: "redis" });
 * console.log(error.backend); // redis
 * ```
 */
export class BackendError extends HttpCacheError {
  /** Name of the backend that failed, such as `"sqlite"` or `"redis"`. */
  readonly backend: string;

  /**
   * Creates a backend error.
   *
   * @param message What failed.
   * @param options The backend's name and the underlying `cause`.
   */
  constructor(message: string, options: { backend: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "BackendError";
    this.backend = options.backend;
  }
}

/**
 * Whether a value is a {@linkcode BackendError}, also one of another copy of the library (thrown
 * by a backend that copy built, which a session takes by its shape), where `instanceof` fails.
 *
 * @param value Any value.
 * @returns Whether it is an {@linkcode HttpCacheError} that names a backend.
 */
export function isBackendError(value: unknown): value is BackendError {
  return HttpCacheError.is(value) && typeof (value as { backend?: unknown }).backend === "string";
}

/**
 * The {@linkcode BackendError} for a storage operation that failed: `cause` itself when it is one
 * already, else one whose message names the operation, the backend and the cause's message.
 *
 * @param backend The storage's name.
 * @param operation What failed (`"read"`, `"write"`, `"list"`, …).
 * @param cause What the storage threw or rejected with.
 * @returns The error, as `Cannot read redis storage: connection refused`.
 */
export function backendError(backend: string, operation: string, cause: unknown): BackendError {
  if (isBackendError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : textOf(cause);
  return new BackendError(`Cannot ${operation} ${backend} storage: ${reason}`, { backend, cause });
}

/** A value as `String()` gives it, or as `Object.prototype.toString` does for one it refuses. */
function textOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    // (An object without a prototype, or whose `toString` throws: a storage may reject with one.)
    return Object.prototype.toString.call(value);
  }
}

const CORRUPT = Symbol.for("@x/http-cache/corrupt-record");

/**
 * A record that does not decode: damaged, cut short, or left by another writer with fields no
 * `Headers` takes (thrown by the record decoder), or one a storage found damaged below the record
 * format and deleted (a Deno KV manifest). A miss, and no failure of the storage: only this error
 * says so, not any `SyntaxError` (a storage reached over HTTP rejects with one when it parses a
 * gateway's error page, and then fails as any storage that is down does). A custom storage
 * rejects a read with it for a record it found damaged and deleted (docs/custom-backend.md).
 *
 * @example Say that a record is damaged
 * ```ts
 * import { CorruptRecordError } from "./errors.ts";
 * const error = new CorruptRecordError("Cannot read entry:abc: its second part is missing");
 * console.log(CorruptRecordError.is(error)); // true
 * console.log(CorruptRecordError.is(new SyntaxError("Unexpected token '<'"))); // false
 * ```
 */
export class CorruptRecordError extends SyntaxError {
  /**
   * Creates an error.
   *
   * @param message What is wrong with the record.
   */
  constructor(message: string) {
    super(message);
    this.name = "CorruptRecordError";
    Object.defineProperty(this, CORRUPT, { value: true });
  }

  /**
   * Tells whether a value says that a record is corrupt, also across realms and duplicate copies
   * of the library, where `instanceof` fails.
   *
   * @param value Any value: the `cause` of a {@linkcode BackendError}, say.
   * @returns `true` for a {@linkcode CorruptRecordError}.
   */
  static is(value: unknown): value is CorruptRecordError {
    return typeof value === "object" && value !== null && CORRUPT in value;
  }
}

/**
 * Whether an error is SQLite's (also under Deno KV) saying that another connection holds the
 * database's lock: the operation may succeed when tried again.
 *
 * @param error What a driver threw.
 * @returns Whether it is "database is locked" (`SQLITE_BUSY`).
 */
export function isLocked(error: unknown): boolean {
  return LOCKED.test(String((error as Error | undefined)?.message));
}

/**
 * Runs `attempt`, and runs it again while it fails because another connection holds the file's
 * lock ({@linkcode isLocked}): on a timer, so that the wait holds up no other request, after
 * 1–2 ms, then twice as long each time up to 32–64 ms, for `wait` ms in all.
 *
 * @param attempt The work, tried anew each time.
 * @param wait How long to try, in all, in ms.
 * @returns What the work returned.
 * @throws {unknown} The work's error, when it is not a lock or the lock outlasts `wait`.
 */
export async function whileLocked<T>(attempt: () => T | Promise<T>, wait: number): Promise<T> {
  let deadline: number | undefined;
  for (let pause = 1;; pause = Math.min(2 * pause, 32)) {
    try {
      return await attempt();
    } catch (error) {
      deadline ??= performance.now() + wait;
      const jittered = pause * (1 + Math.random());
      if (!isLocked(error) || performance.now() + jittered > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, jittered));
    }
  }
}

const LOCKED = /database is locked|SQLITE_BUSY/i;
