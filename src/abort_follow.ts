/**
 * Following a request's abort signal: from a body, without the signal keeping the body alive (one
 * `AbortController` may serve a whole application, and outlive every response it was given to),
 * and while waiting for something.
 *
 * @module
 */

import type { Waiters } from "./body.ts";
import { after, CANCELLED_READ_TIMEOUT } from "./deadline.ts";
import {
  BYTE_BODIES,
  closeStream,
  isByteStream,
  offerWhole,
  pulledStream,
  withdrawWhole,
} from "./served_body.ts";

/**
 * Calls `abort` once `signal` aborts (at once when it has), until the returned function is called
 * or `owner` is collected.
 *
 * @param signal The signal.
 * @param abort What to do then.
 * @param owner The body it is done to: the signal keeps neither it nor `abort` alive.
 * @returns Stops following the signal.
 */
export function onAbort(signal: AbortSignal, abort: () => void, owner: object): () => void {
  if (signal.aborted) {
    abort();
    return () => {};
  }
  // The signal may outlive the body by far (one controller for a whole application): it holds
  // the listener, and the listener reaches the body only weakly. A body nobody reads any more
  // is collected, and its listener then removed. (Nothing in this scope may hold `abort`: V8
  // shares one context among a scope's closures, so the listener would hold it too.)
  const ref = new WeakRef(owner);
  const listener = () => {
    const alive = ref.deref();
    if (alive !== undefined) ABORTS.get(alive)?.get(listener)?.();
  };
  const aborts = ABORTS.get(owner) ?? new Map<() => void, () => void>();
  ABORTS.set(owner, aborts.set(listener, abort));
  FOLLOWED.register(owner, { signal, listener }, listener);
  signal.addEventListener("abort", listener, { once: true });
  return () => {
    signal.removeEventListener("abort", listener);
    FOLLOWED.unregister(listener);
    // (By the weak reference: this function shares the listener's scope.) What the abort would
    // do holds the body's state, which its owner, the caller's stream, must not keep alive.
    const alive = ref.deref();
    if (alive !== undefined) ABORTS.get(alive)?.delete(listener);
  };
}

/**
 * A body handed on as it comes, that calls `abort` once `signal` aborts ({@linkcode onAbort}) until
 * it has ended: read to its end, failed, cancelled or taken whole. A body read long ago, or kept
 * read by its caller, leaves no listener on a signal that serves a whole application. A byte
 * stream when `body` is one ({@linkcode BYTE_BODIES}), as fetch's body is.
 *
 * @param body The body, which nobody reads yet.
 * @param signal The signal.
 * @param abort What to do once it aborts.
 * @returns The body to hand on.
 */
export function followedBody(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  abort: () => void,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** Whether the body was taken whole: the stream's cancel then only marks it as read. */
  let taken = false;
  let unfollow: (() => void) | undefined;
  const end = () => {
    unfollow?.();
    unfollow = undefined;
  };
  const stream = pulledStream(BYTE_BODIES && isByteStream(body), {
    pull: async (controller) => {
      withdrawWhole(stream);
      reader ??= body.getReader();
      try {
        const { done, value } = await reader.read();
        if (!done) return controller.enqueue(value as Uint8Array<ArrayBuffer>);
        end();
        closeStream(controller);
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    cancel: (reason) => {
      withdrawWhole(stream);
      if (taken) return;
      end();
      return (reader ?? body).cancel(reason);
    },
  });
  offerWhole(stream, () => {
    taken = true;
    return new Response(body).arrayBuffer().then((bytes) => new Uint8Array(bytes)).finally(end);
  });
  unfollow = onAbort(signal, abort, stream);
  return stream;
}

/** What an abort does to a body, by the listener that follows a signal for it; kept as long as the body. */
const ABORTS = new WeakMap<object, Map<() => void, () => void>>();

/** Removes the abort listener of a body that was collected before it ended. */
const FOLLOWED = new FinalizationRegistry<{ signal: AbortSignal; listener: () => void }>(
  ({ signal, listener }) => signal.removeEventListener("abort", listener),
);

/**
 * Waits for a promise unless an abort signal fires first; then rejects with the signal's reason,
 * as fetch does.
 *
 * @param promise What to wait for.
 * @param signal The caller's signal, if any.
 * @returns What the promise resolves to.
 * @throws {unknown} The signal's reason when it aborts first.
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Bounds the cache's read of a body its caller has cancelled, which only the cache still reads:
 * it is given up after {@linkcode CANCELLED_READ_TIMEOUT}, or when the session closes. Both are
 * followed from the cancel on only, so that a miss pays nothing for them. While requests wait for
 * the body (coalesced on it: `waiters`), the cache does not read it alone: the time limit counts
 * again from when it finds none waiting.
 *
 * @param giveUp Stops the read (the body is then not stored).
 * @param closing The session's closing signal.
 * @param owner What the closing listener is kept for (it goes once that is collected).
 * @param ms The time limit ({@linkcode CANCELLED_READ_TIMEOUT} unless told).
 * @param waiters The requests that wait for the body: while one does, the read is not given up.
 * @returns Stops following both, once the read has ended.
 */
export function readingAlone(
  giveUp: (reason: unknown) => void,
  closing: AbortSignal | undefined,
  owner: object,
  ms: number = CANCELLED_READ_TIMEOUT,
  waiters?: Pick<Waiters, "wanted">,
): () => void {
  const expire = () => {
    if (waiters?.wanted()) clear = after(ms, expire);
    else giveUp(new DOMException("The cache's read of a cancelled body timed out", "TimeoutError"));
  };
  let clear = after(ms, expire);
  const unfollow = closing === undefined ? undefined : onAbort(closing, () => giveUp(closing.reason), owner);
  return () => {
    clear();
    unfollow?.();
  };
}
