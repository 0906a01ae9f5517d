/**
 * Takes a network body for the cache: read whole, straight into the entry's record, when it is
 * small and its length is declared (on Deno and Bun); else streamed to the caller while the cache
 * copies each chunk, straight into the record when the length is declared, else aside, to be put
 * into the record once the body is complete.
 *
 * A streamed body is read by the cache alone, to the end, as fast as it comes: each chunk is
 * copied for the record, then handed as it is to the caller: to the caller's stream, which the
 * caller reads at its own pace, or, when the caller takes the body whole (`arrayBuffer()`,
 * `text()`, … before reading any of it), gathered into one array, never passing through the
 * stream. So a response is stored even when the caller stops reading (once it has cancelled, if
 * the body ends within 30 s: `CANCELLED_READ_TIMEOUT`), and never when the
 * network stream fails: then the caller's stream errors exactly as plain fetch's would, and the
 * collected bytes are dropped. A body that outgrows the limit is let go: nothing more is held, and
 * the network is read only as fast as the caller reads (not at all once it has cancelled).
 *
 * When the request has an abort signal, the caller's body fails with the signal's reason if it
 * aborts before the caller has read it all, as fetch's does ("abort fetch"), even when the whole
 * body has arrived: the abort ends the caller's reading, as a cancel does, not the cache's.
 *
 * @module
 */

import { onAbort, readingAlone } from "./abort_follow.ts";
import {
  CANCELLED_READ_TIMEOUT,
  FOLLOWED_READ_TIMEOUT,
  QUICK_TURNS,
  settledWithin,
  settlesSoon,
} from "./deadline.ts";
import { joined } from "./bytes.ts";
import { hasContentCoding } from "./cache_control.ts";
import { Collected, roomFor } from "./collected_body.ts";
import type { CacheEntry } from "./record.ts";
import {
  type BodyController,
  BYTE_BODIES,
  closeStream,
  isByteStream,
  offerWhole,
  OWNED_BODY_MIN,
  ownedBody,
  pulledStream,
  READS_WHOLE,
  storedBody,
  withdrawWhole,
} from "./served_body.ts";
import { laterBody, readWhole, type WholeRead } from "./whole_body.ts";

/** What the cache gets of a body: its bytes, and the record they were read into, if they were. */
export interface TakenBody {
  /** The complete body. */
  body: Uint8Array;
  /** The entry's whole record, when the body was read straight into it. */
  record?: Uint8Array;
  /**
   * The body as it was read, when the record holds a copy and the caller may have it without one
   * (`OWNS_READ_BODY` in served_body.ts): nothing else holds it.
   */
  read?: Uint8Array<ArrayBuffer>;
}

/** The requests that wait for a body (coalesced on it), as the cache's read of the body sees them. */
export interface Waiters {
  /** Whether one still waits. */
  wanted(): boolean;
  /**
   * Tells them the body is read, and came on: once it stalls (no chunk for a while), they stop
   * waiting and ask the origin themselves, as they could not from a body that never ends.
   */
  progressed(): void;
}

/**
 * Why `store` got no body, when the cache could not hold it (memory refused, a chunk it could not
 * copy): a failure of the cache's own, to be reported, while the caller's body reads on as usual.
 */
export class CacheFailure {
  /** The failure. */
  readonly cause: unknown;

  /** @param cause The failure. */
  constructor(cause: unknown) {
    this.cause = cause;
  }
}

/**
 * Takes a storable network body: reads it whole, straight into the entry's record, when it is
 * declared no longer than {@linkcode READ_WHOLE_LIMIT} and the runtime gains by it
 * ({@linkcode READS_WHOLE}), handing the caller a body that comes once it is all there
 * ({@linkcode laterBody}); else streams it to the caller while the cache collects it
 * ({@linkcode streamBody}). Either way `store` receives the complete body
 * (`undefined` when it outgrew `limit`; a rejection when it failed, with a
 * {@linkcode CacheFailure} when the cache could not hold it), and the caller's body ends
 * only once what `store` returned has settled ({@linkcode settledWithin}: 2 s at most): a caller
 * that has read a body finds it in the cache.
 *
 * @param response The network response.
 * @param limit Largest body the cache collects, in bytes.
 * @param entry The entry being stored, without its body.
 * @param store Stores the body; settles when the cache is done with it.
 * @param signal The request's abort signal: should it abort before the caller has read the whole
 *   body, the caller's body fails with its reason, as fetch's does. The cache still stores a
 *   body it has read whole. None for a body the caller never gets (a HEAD's): it would be
 *   followed until the signal aborts.
 * @param closing The session's, aborted by `close()`: a body the caller cancelled, which only the
 *   cache still reads, is then given up and not stored.
 * @param followed Whether the session follows this response (a redirect), and drops its body as
 *   fetch does: the body is streamed, never read whole by `arrayBuffer()`, which cannot be given
 *   up, and the cache reads on for {@linkcode FOLLOWED_READ_TIMEOUT} at most once it is dropped.
 * @param waiters The requests that wait for the body (coalesced on it): while one does, the
 *   cache's read of a body its caller dropped is not timed, only given up as the session closes (a
 *   followed redirect's is, as its waiters ask the origin themselves then); they hear how the body
 *   comes on, where the cache sees it ({@linkcode Waiters.progressed}).
 * @returns The body to hand to the caller.
 */
export async function takeBody(
  response: Response,
  limit: number,
  entry: Omit<CacheEntry, "body">,
  store: (taken: Promise<TakenBody | undefined>) => Promise<unknown>,
  signal?: AbortSignal | null,
  closing?: AbortSignal,
  followed = false,
  waiters?: Waiters,
): Promise<BodyInit | null> {
  const length = declaredLength(response.headers, limit);
  const wholly = !followed && length !== undefined && length <= READ_WHOLE_LIMIT && READS_WHOLE;
  // (Should the memory for it be refused, the body streams, collected as it comes.)
  const draft = wholly ? roomFor(entry, length) : undefined;
  if (draft !== undefined) {
    const reading: WholeRead = {};
    const taken = readWhole(response, draft, reading, waiters);
    const stored = store(taken);
    // The response goes to the caller at once, as fetch's does once its headers have come: the
    // body follows, whole, once read and stored (2 s at most), however slowly it arrives.
    const whole = taken.then(async (body) => {
      await settledWithin(stored);
      if (body === undefined) throw new TypeError("The cache gave up a body its caller had cancelled");
      return body;
    });
    // The body comes with the response, as bytes, when the caller never gets it (a HEAD's: the
    // response waits for its write, as a streamed one does), and when it has all arrived and no
    // signal can fail it (an empty one too, as fetch's fails on an abort): then it is read and
    // stored within a few microtask turns, waiting on no I/O (some twenty on Deno and fifteen on
    // Bun; twice the usual allowance covers them), and bytes cost least.
    const handOver = response.body === null ||
      (signal == null && await settlesSoon(whole, 2 * QUICK_TURNS));
    if (handOver) {
      const served = ({ body, read }: TakenBody) =>
        read !== undefined && read.length >= OWNED_BODY_MIN
          ? ownedBody(read)
          : storedBody(body, false, /* byteStream: a miss's */ true);
      return await whole.then(served, failedBody);
    }
    whole.catch(() => {}); // (read by the caller, or by no one)
    return laterBody(whole, signal, reading, closing, waiters);
  }
  if (response.body === null) {
    await settledWithin(store(Promise.resolve({ body: new Uint8Array(0) })));
    return null;
  }
  const collected = new Collected(entry, limit, length);
  const alone = followed ? FOLLOWED_READ_TIMEOUT : CANCELLED_READ_TIMEOUT;
  // (A followed redirect's body is given up at its limit all the same: its waiters then ask themselves.)
  const waited = followed ? undefined : waiters;
  return streamBody(response.body, collected, store, signal ?? undefined, closing, alone, waited);
}

/**
 * Largest body read whole, where the runtime gains by it ({@linkcode READS_WHOLE}): 1 MiB. The
 * caller gets the response with its headers, as from fetch, and the body once it has all come.
 * There one read of the whole body costs less than a stream through the cache, and the caller of
 * a body this small rarely gains anything from its first bytes coming earlier.
 */
export const READ_WHOLE_LIMIT = 1024 * 1024;

/**
 * The `Content-Length` of a response's body as it comes over the wire, or `null`: also when the
 * response has a `Transfer-Encoding` too (a broken server's, which fetch on Deno and Bun takes),
 * as that overrides it (RFC 9112 §6.3): the body, chunked, may be of any length, and never end.
 *
 * @param headers The response's headers.
 * @returns The field's value, when it tells the length of the body that comes.
 */
export function contentLength(headers: Headers): string | null {
  return headers.has("transfer-encoding") ? null : headers.get("content-length");
}

/**
 * The length of a body as it will be read: its `Content-Length`, when declared
 * ({@linkcode contentLength}), at most `limit`, and the body has no content coding (a decoded
 * body could be any size).
 *
 * @param headers The response's headers.
 * @param limit Largest body the cache collects, in bytes.
 * @returns The length, or `undefined` when it is not known in advance.
 */
function declaredLength(headers: Headers, limit: number): number | undefined {
  const declared = contentLength(headers);
  const length = Number(declared);
  if (declared === null || !Number.isSafeInteger(length) || length < 0 || length > limit) return undefined;
  return hasContentCoding(headers.get("content-encoding")) ? undefined : length;
}

/**
 * A body that fails with `error` when it is read: what a caller of plain fetch would have met.
 *
 * @param error The error.
 * @returns The stream.
 */
function failedBody(error: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.error(error) });
}

/**
 * Cancels the network body of a caller's stream that was collected while the cache, having let
 * go of the body, waited for the caller to read on: the connection is then freed, as fetch frees
 * that of a response collected unread.
 */
const ABANDONED = new FinalizationRegistry<ReadableStreamDefaultReader<Uint8Array>>((reader) => {
  reader.cancel(new TypeError("The response was garbage collected unread")).catch(() => {});
});

/**
 * Streams a network body to the caller while the cache collects it. The cache reads the body to
 * the end as fast as it comes, copies each chunk for the record, and hands the chunk itself to the
 * caller's stream (held until the caller first pulls), or gathers it for a caller that takes the
 * body whole ({@linkcode offerWhole}). The caller's body ends only once what `store` returned has
 * settled ({@linkcode settledWithin}: 2 s at most): a caller that has read a body to the end finds
 * it in the cache on its next request, under its key and its redirect aliases.
 *
 * Once the body outgrows the limit, the cache lets go of it: the network is then read only as fast
 * as the caller reads (all of it for a caller that takes it whole), and cancelled with the
 * caller's reason when the caller cancels. Until then a caller that cancels only stops receiving:
 * the cache reads on, and stores the whole body. An abort of `signal` before the caller has read
 * all of the body fails the caller's body with its reason, and is otherwise a cancel.
 *
 * A chunk that is not bytes (from a custom fetch) is let go of too: the caller's stream hands it
 * on as it is, as fetch's would, and a read of the whole body fails with a `TypeError`, as
 * fetch's does (Fetch, "fully read body").
 *
 * The caller's stream is a byte stream, which a bring-your-own-buffer reader can read, when the
 * network body is one ({@linkcode isByteStream}; not on Bun, {@linkcode BYTE_BODIES}), as fetch's
 * is: each chunk then owns its buffer, which the caller's stream takes over as it is.
 *
 * @param body The network body.
 * @param collected Where the cache collects it.
 * @param store Stores the body; settles when the cache is done with it.
 * @param signal The request's abort signal.
 * @param closing The session's closing signal.
 * @param alone How long the cache reads on alone once the caller has cancelled, in ms.
 * @param waiters The requests that wait for the body (coalesced on it): the cache does not read it
 *   alone while one does, and tells them of each chunk that comes.
 * @returns The caller's stream.
 */
function streamBody(
  body: ReadableStream<Uint8Array>,
  collected: Collected,
  store: (taken: Promise<TakenBody | undefined>) => Promise<unknown>,
  signal: AbortSignal | undefined,
  closing: AbortSignal | undefined,
  alone: number,
  waiters: Waiters | undefined,
): ReadableStream<Uint8Array> {
  const byteStream = BYTE_BODIES && isByteStream(body);
  const reader = body.getReader();
  let caller!: BodyController;
  let cancelled: { reason: unknown } | undefined;
  /** Chunks read before the caller first pulled or took the body whole; `undefined` from then on. */
  let early: Uint8Array[] | undefined = [];
  /** Whether the body ended, and its write settled, while its chunks were still early. */
  let ended = false;
  /** Whether the body ended while the caller had chunks left to read: it closes when they are read. */
  let draining = false;
  /** How the caller's body failed, for a caller that takes it whole afterwards. */
  let failure: { error: unknown } | undefined;
  /** The caller's read of the whole body, once it has taken the body whole. */
  let whole: {
    parts: Uint8Array[];
    resolve: (bytes: Uint8Array<ArrayBuffer>) => void;
    reject: (error: unknown) => void;
  } | undefined;
  /** Whether the caller waits for a chunk (the stream pulls only then: its high-water mark is 0). */
  let asked = false;
  /** Resumes reading once the cache has let go: the caller asked, took the body whole, or cancelled. */
  let wake: (() => void) | undefined;
  /** Stops following the request's abort signal, once the caller's body has ended; set iff it has one. */
  let unfollow: (() => void) | undefined;
  /**
   * Ends the caller's stream. With a signal, only once the caller has read every chunk (when it
   * next asks): until then an abort errors the stream, chunks unread dropped, as fetch's.
   */
  const close = () => {
    draining = unfollow !== undefined && caller.desiredSize !== 0;
    if (draining) return;
    closeStream(caller);
    unfollow?.();
  };
  /** Whether closing the session ended the read of a body the caller had cancelled: not stored. */
  let given = false;
  /** Hands a chunk to the caller (from a network body that is a byte stream, it owns its buffer). */
  const give = (chunk: Uint8Array) => caller.enqueue(chunk as Uint8Array<ArrayBuffer>);
  /** Whether the cache still reads the network body. */
  let reading = true;
  /** Stops following `closing` and the time limit, once the cache's read has ended. */
  let unfollowClosing: (() => void) | undefined;
  /**
   * Bounds the cache's read once its caller has gone (cancelled, or aborted): a body the cache has
   * let go of is the caller's alone, and is cancelled at once, even while a read waits on the
   * network; one it still collects is read on until the time limit, or until the session closes.
   */
  const readAlone = (reason: unknown) => {
    if (!reading || unfollowClosing !== undefined) return;
    if (!collected.collecting) return void reader.cancel(reason).catch(() => {});
    const giveUp = (reason: unknown) => (given = true, reader.cancel(reason).catch(() => {}));
    unfollowClosing = readingAlone(giveUp, closing, stream, alone, waiters);
  };
  /** Fails the caller's body (its stream, or its read of the whole) for good; the cache reads on alone. */
  const failCaller = (error: unknown) => {
    failure ??= { error };
    if (whole !== undefined) whole.reject(error);
    else if (cancelled === undefined) caller.error(error);
    whole = undefined;
    early = undefined;
    cancelled ??= { reason: error };
    wake?.();
    unfollow?.();
    readAlone(error);
  };
  const stream = pulledStream(byteStream, {
    start: (controller) => {
      caller = controller;
    },
    pull: () => {
      withdrawWhole(stream);
      if (draining) return close();
      // The first pull: what was read so far goes at once.
      if (early !== undefined) {
        const chunks = early;
        early = undefined;
        for (const chunk of chunks) give(chunk);
        if (ended) return close();
        if (chunks.length > 0) return;
      }
      asked = true;
      wake?.();
    },
    cancel: (reason) => {
      withdrawWhole(stream);
      if (whole !== undefined) return; // taken whole: this cancel only marks the stream as read
      early = undefined;
      cancelled = { reason };
      wake?.();
      unfollow?.();
      readAlone(reason);
    },
  });
  offerWhole(stream, () =>
    new Promise((resolve, reject) => {
      if (failure !== undefined) return reject(failure.error);
      whole = { parts: early ?? [], resolve, reject };
      early = undefined;
      if (ended) {
        resolve(joined(whole.parts));
        unfollow?.();
      } else wake?.();
    }));
  if (signal !== undefined) unfollow = onAbort(signal, () => failCaller(signal.reason), stream);
  ABANDONED.register(stream, reader, reader);
  let settle!: (taken: TakenBody | undefined) => void;
  let fail!: (error: unknown) => void;
  // Settles when the body has ended, failed or been let go of, whatever the caller does.
  const taken = new Promise<TakenBody | undefined>((resolve, reject) => (settle = resolve, fail = reject));
  const stored = store(taken);
  /** Settles that the cache let go of the body; a failure to hold it is the cache's, not the body's. */
  const letGo = () => {
    if (collected.failure === undefined) settle(undefined);
    else fail(new CacheFailure(collected.failure.error));
  };
  (async () => {
    try {
      while (true) {
        if (!collected.collecting && whole === undefined) {
          if (cancelled !== undefined) return await reader.cancel(cancelled.reason);
          if (!asked) {
            await new Promise<void>((resolve) => wake = resolve);
            continue;
          }
        }
        waiters?.progressed();
        const { done, value } = await reader.read();
        if (done && given) return settle(undefined);
        if (done) break;
        collected.add(value);
        if (!collected.collecting) {
          letGo(); // the cache is done with it
          // (Checked only here: the cache has let go of any chunk that is not bytes.)
          if (!(value instanceof Uint8Array)) {
            failure ??= { error: new TypeError("A body chunk is not a Uint8Array") };
            if (whole !== undefined) {
              failCaller(failure.error);
              continue;
            }
          }
        }
        if (whole !== undefined) whole.parts.push(value);
        else if (early !== undefined) early.push(value);
        else {
          // Before the chunk goes: a caller with more reads pending asks again as it takes it.
          asked = false;
          if (cancelled === undefined) give(value);
        }
      }
    } catch (error) {
      ABANDONED.unregister(reader);
      fail(error);
      failCaller(error);
      return;
    }
    const body = collected.taken();
    if (body !== undefined) settle(body);
    else letGo();
    ABANDONED.unregister(reader);
    await settledWithin(stored);
    if (whole !== undefined) {
      whole.resolve(joined(whole.parts));
      unfollow?.();
    } else if (early !== undefined) ended = true;
    else if (cancelled === undefined) close();
  })().finally(() => {
    reading = false;
    unfollowClosing?.();
  });
  return stream;
}
