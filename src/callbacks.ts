/**
 * Calls to the user's callbacks (`onError`, `onEvent`, `waitUntil`): whatever one throws, or the
 * promise it returns rejects with, is dropped, so that it never fails a request, and never ends a
 * process as an unhandled rejection.
 *
 * @module
 */

/**
 * Calls `callback` with `argument`, dropping what it throws or rejects with.
 *
 * @param callback The user's callback.
 * @param argument Its argument.
 */
export function callSafely<T>(callback: (argument: T) => unknown, argument: T): void {
  try {
    const result = callback(argument);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
      (result as PromiseLike<unknown>).then(undefined, () => {});
    }
  } catch {
    // A failing callback must not fail the request.
  }
}
