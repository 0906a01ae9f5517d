/**
 * Calls to the user's callbacks (`onError`, `onEvent`, `waitUntil`): whatever one throws, or the
 * promise it returns rejects with, never fails a request, and never ends a process as an unhandled
 * rejection (a failing `waitUntil` is reported to `onError`; the others' failures are dropped).
 *
 * @module
 */

/**
 * Calls `callback` with `argument`, dropping what it throws or rejects with (after handing it to
 * `failed`, when given).
 *
 * @param callback The user's callback.
 * @param argument Its argument.
 * @param failed Told what the callback threw or rejected with; must not throw.
 */
export function callSafely<T>(
  callback: (argument: T) => unknown,
  argument: T,
  failed: (error: unknown) => void = () => {},
): void {
  try {
    const result = callback(argument);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
      (result as PromiseLike<unknown>).then(undefined, failed);
    }
  } catch (error) {
    // A failing callback must not fail the request.
    failed(error);
  }
}
