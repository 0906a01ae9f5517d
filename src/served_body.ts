/**
 * The body of a served response, in the fastest form for each runtime, and the runtime quirks
 * that decide it: Node streams bytes and lets a response read whole skip its stream (as a
 * streamed miss's body read whole does on every runtime); Deno, and Bun for fields given as
 * pairs, build a response of bytes without an init. `CachedResponse` (src/response.ts) and the
 * benchmark's floor build their responses through here. Also how each runtime best reads a miss's
 * body for the cache (src/body.ts): whole or streamed, into its record or copied in, and on Bun
 * handed to the caller as read.
 *
 * @module
 */

// By `process.versions`, which Deno and Bun fill in too, not by a `Deno` global, which a test
// runner on Node may define for a moment.
const VERSIONS = (globalThis as { process?: { versions?: Record<string, string | undefined> } }).process
  ?.versions ?? {};

/**
 * Node's `Response` copies a byte body and then streams the copy anyway; given a byte stream of
 * one chunk it does that work once: a 1 KB hit is about twice as fast (Node 24), a 100 KB one
 * 1.5×. Deno and Bun hold bytes natively and are faster with them as they are.
 */
const STREAM_BYTES = VERSIONS.node !== undefined && VERSIONS.deno === undefined && VERSIONS.bun === undefined;

/**
 * Whether a miss's body of declared length up to 1 MiB is read whole (Deno, Bun; the caller gets
 * it once it has all come), rather than streamed through the cache like any other (Node). On Deno
 * and Bun one read of the whole body costs less than a stream through the cache; on Node it costs
 * more (a bring-your-own-buffer read goes through Node's JavaScript streams, and the caller then
 * needs a copy of its own): measured side by side, a streamed 1 KB miss costs 34–40% over plain
 * fetch against 41–46% read whole, a 100 KB one 27–32% against 38–40%.
 */
export const READS_WHOLE: boolean = !STREAM_BYTES;

/**
 * Whether a body read whole of 16 KiB or more is read straight into its record by a reader that
 * brings its own buffer (Deno), rather than taken by `arrayBuffer()` and copied in (Bun). Deno's
 * own `arrayBuffer()` of a fetch body is the slower of the two there; Bun's hands over the body it
 * holds already (and Bun 1.4's fetch body is no byte stream: a bring-your-own-buffer reader is
 * refused). What `arrayBuffer()` hands over is then the caller's own ({@linkcode OWNS_READ_BODY}).
 */
export const READS_INTO_RECORD: boolean = VERSIONS.deno !== undefined;

/**
 * Deno (2.9) prepares a native response for `Deno.serve` whenever a `Response` is built from
 * bytes with an init: it copies the body and the headers out of JavaScript and holds native
 * memory until the response is collected. Built from the bytes alone, with the headers added
 * after, a 100 KB response is seven times as fast (a 1 KB one twice), and a process building
 * 15,000 of them stays at 150 MB instead of growing to 1.6 GB. `Deno.serve` still sends such a
 * response with all its headers.
 */
const BYTES_ALONE = VERSIONS.deno !== undefined;

/**
 * Deno (2.9) reads a `Response` built from no bytes as one chunk of no bytes, where its fetch's
 * body of an empty response ends without a chunk: an empty stored body is served as a stream that
 * ends at once.
 */
const EMPTY_BYTES_CHUNK = VERSIONS.deno !== undefined;

/**
 * Deno (2.9) hands a `Response` built from bytes and its `clone()` one buffer: a tee of one
 * chunk, which `arrayBuffer()` and `bytes()` return as it is, so that writing into what one of
 * them read changes what the other reads (its fetch's body, a byte stream, tees copies). A
 * `CachedResponse` built from bytes there builds its clone from the bytes again.
 */
export const CLONE_SHARES_BYTES: boolean = VERSIONS.deno !== undefined;

/**
 * Bun (1.4) fills a `Response`'s headers from a list of pairs (or a record) more slowly than they
 * are appended one by one to a response built from the bytes alone; from a `Headers` it copies
 * them natively, faster than either. Measured side by side on Bun 1.4.5, a 1 KB memory hit
 * (whose fields are pairs) takes 0.87–0.89× the time built bare, a 100 KB one 0.94–0.97×.
 */
const PAIRS_ALONE = VERSIONS.bun !== undefined;

/**
 * Whether a miss's body read whole by `arrayBuffer()`, of {@linkcode OWNED_BODY_MIN} bytes or
 * more, goes to the caller as it was read, without a copy (Bun), while the record keeps a copy of
 * its own: Bun's `Response` copies the bytes it is built from, into fresh memory, which with the
 * memory backend full costs more than the stream that hands them over
 * ({@linkcode ownedBody}). Measured side by side on Bun 1.4.5, a 100 KB miss takes 0.7–0.8× the
 * time (with a request signal too, where the copy was a `slice()`); at 1 KB the stream costs more
 * than the copy.
 */
export const OWNS_READ_BODY: boolean = VERSIONS.bun !== undefined;

/**
 * Whether a body the cache builds for a response that came from the network (a miss's, a
 * coalesced waiter's, a revalidated one's) or for a range it cut from a stored body is a byte
 * stream, which a bring-your-own-buffer reader can read, as it can fetch's body (Deno, Node).
 * Bun 1.4's own fetch body is no byte stream: there the cache's bodies stay as they were. A plain
 * hit's body is one on Node alone ({@linkcode STREAM_BYTES}): on Deno a byte stream made a 1 KB
 * memory hit read by `arrayBuffer()` take 1.35× the time, a 100 KB one 1.13–1.15× (measured side
 * by side on Deno 2.9).
 */
export const BYTE_BODIES: boolean = VERSIONS.bun === undefined;

/**
 * The `type` of the responses the runtime's `fetch` gives: `"basic"` on Deno and Node (a server
 * runtime has no origin of its own to filter responses by), `"default"` on Bun. A response the
 * cache serves from a stored entry has it, as the response stored had.
 */
export const FETCHED_TYPE: ResponseType = VERSIONS.bun === undefined ? "basic" : "default";

/** The controller of a body's stream: a byte stream's, or a default stream's. */
export type BodyController = ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController;

/**
 * A body's stream that its caller pulls one chunk at a time (its high-water mark is 0): a byte
 * stream when `byteStream`, else a default stream.
 *
 * @param byteStream Whether it is a byte stream.
 * @param source Its source, whose `start` gets a {@linkcode BodyController}.
 * @returns The stream.
 */
export function pulledStream(
  byteStream: boolean,
  source: Omit<UnderlyingDefaultSource<Uint8Array>, "type">,
): ReadableStream<Uint8Array> {
  const typed = { ...source, type: byteStream ? "bytes" : undefined };
  return new ReadableStream<Uint8Array>(typed as UnderlyingDefaultSource<Uint8Array>, { highWaterMark: 0 });
}

/**
 * Whether `stream` is a byte stream: one that a bring-your-own-buffer reader can read, and whose
 * chunks each own their buffer (enqueueing one transfers it), so that they may be handed on to
 * another byte stream as they are.
 *
 * @param stream A stream nobody reads yet.
 * @returns Whether it is a byte stream; it is left unlocked.
 */
export function isByteStream(stream: ReadableStream<Uint8Array>): boolean {
  try {
    stream.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  }
}

/**
 * Closes a stream from its source: a byte stream's pending bring-your-own-buffer read then ends
 * too (it waits for `respond(0)`, not for the close). A read into elements wider than a byte
 * (`Uint16Array`) that the body left a byte short errors the stream instead, as fetch's: that
 * error is the caller's, not thrown at the cache.
 *
 * @param controller The stream's controller.
 */
export function closeStream(controller: BodyController): void {
  try {
    controller.close();
  } catch {
    return;
  }
  if ("byobRequest" in controller) controller.byobRequest?.respond(0);
}

/** Smallest body handed over without a copy ({@linkcode OWNS_READ_BODY}): 16 KiB. */
export const OWNED_BODY_MIN = 16 * 1024;

/**
 * Whether a response of `body` is built from the body alone, its headers added after
 * ({@linkcode BYTES_ALONE}, {@linkcode PAIRS_ALONE}): bytes with status 200, on Deno, and on Bun
 * when the headers are not a `Headers`.
 *
 * @param body The body.
 * @param init Status, status text and headers it would be built with.
 * @returns Whether to build it bare, then {@linkcode appendAll} the headers.
 */
export function builtBare(body: unknown, init: ResponseInit): boolean {
  return (BYTES_ALONE || (PAIRS_ALONE && !(init.headers instanceof Headers))) && body instanceof Uint8Array &&
    (init.status ?? 200) === 200;
}

/**
 * Adds the fields of `init` to `headers`, as the `Response` constructor would.
 *
 * @param headers The response's headers.
 * @param init The fields.
 */
export function appendAll(headers: Headers, init: HeadersInit | undefined): void {
  if (init instanceof Headers) return init.forEach((value, name) => headers.append(name, value));
  for (const [name, value] of Array.isArray(init) ? init : Object.entries(init ?? {})) {
    headers.append(name, value);
  }
}

/**
 * A plain `Response` of stored bytes, built the fastest way for the runtime, as a hit builds its
 * own: the floor the benchmarks measure hits against.
 *
 * @param bytes The stored bytes (copied, as {@linkcode storedBody} does).
 * @param init Status, status text and headers.
 * @returns The response.
 */
export function responseFromBytes(bytes: Uint8Array, init: ResponseInit): Response {
  const body = storedBody(bytes);
  if (!builtBare(body, init)) return new Response(body, init);
  const response = new Response(body);
  appendAll(response.headers, init.headers);
  return response;
}

/**
 * The whole of each served body that nobody has started to read, by the stream it would be read
 * from, to take instead of streaming it ({@linkcode takeUnread}): the bytes a stream of stored
 * bytes was built around ({@linkcode storedBody}); for a streamed miss, on any runtime, a read of the whole body.
 */
const UNREAD = new WeakMap<
  ReadableStream<Uint8Array>,
  Uint8Array | (() => Promise<Uint8Array<ArrayBuffer>>)
>();

/**
 * The body of a served response, in the fastest form for the runtime. The caller never gets
 * stored bytes themselves, since stored bytes may be shared (the memory backend hands out its own
 * array) and a caller may write into what it reads: it gets a copy, or on Node, when the bytes
 * are `owned`, the bytes themselves (their buffer is transferred to the stream, and so detached).
 * Where the body is a stream (on Node; on Deno for a body that is not a plain hit's, or is empty:
 * {@linkcode EMPTY_BYTES_CHUNK}) the copy is made only when the stream is read: a body taken whole
 * by `arrayBuffer()`, `bytes()`, `text()` or `json()` never streams.
 *
 * @param body Stored bytes (or another body, passed through).
 * @param owned Whether nothing else holds the buffer of `body`: no copy is needed.
 * @param byteStream Whether the body is not a plain hit's (a miss's, a coalesced waiter's, a
 *   revalidated or partial one's): then it is a byte stream wherever {@linkcode BYTE_BODIES} says,
 *   as fetch's is, taken whole as a hit's is on Node.
 * @returns The body to build the `Response` with.
 */
export function storedBody(
  body: BodyInit | Uint8Array | null,
  owned = false,
  byteStream = false,
): BodyInit | null {
  if (!(body instanceof Uint8Array)) return body;
  if (!(STREAM_BYTES || (byteStream && BYTE_BODIES) || (EMPTY_BYTES_CHUNK && body.length === 0))) {
    return body as BodyInit | null;
  }
  return oneChunk(body as Uint8Array<ArrayBuffer>, !owned, body);
}

/**
 * The body of bytes that nothing else holds (a miss's, as `arrayBuffer()` read it), handed to
 * the caller without a copy: taken whole, or streamed as one chunk ({@linkcode OWNS_READ_BODY}).
 *
 * @param bytes The bytes; they fill their buffer, which goes to the caller.
 * @returns The body to build the `Response` with.
 */
export function ownedBody(bytes: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array> {
  return oneChunk(bytes, false, () => Promise.resolve(bytes));
}

/**
 * A body of stored bytes that comes once `ready` has settled: served at the end of redirects whose
 * writes are still under way, it ends once they are done, as a miss's ends once its own write is.
 * A byte stream wherever {@linkcode BYTE_BODIES} says, as a miss's is; taken whole as it is.
 *
 * @param bytes Stored bytes: the caller gets a copy.
 * @param ready Settles once the body may come; it never rejects.
 * @returns The body to build the `Response` with.
 */
export function laterStoredBody(bytes: Uint8Array, ready: Promise<void>): ReadableStream<Uint8Array> {
  const stream = pulledStream(BYTE_BODIES, {
    pull: async (controller) => {
      withdrawWhole(stream);
      await ready;
      if (bytes.length > 0) controller.enqueue(bytes.slice());
      closeStream(controller);
    },
  });
  offerWhole(stream, () => ready.then(() => bytes.slice()));
  return stream;
}

/**
 * A byte stream of one chunk, `bytes` or a copy of them, made when it is first pulled; taken
 * whole instead as `unread` ({@linkcode takeUnread}) while nobody has started to read it.
 */
function oneChunk(
  bytes: Uint8Array<ArrayBuffer>,
  copy: boolean,
  unread: Uint8Array | (() => Promise<Uint8Array<ArrayBuffer>>),
): ReadableStream<Uint8Array> {
  const stream = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull(controller) {
      UNREAD.delete(stream);
      if (bytes.length > 0) controller.enqueue(copy ? bytes.slice() : bytes);
      closeStream(controller);
    },
    // (Nor is it offered whole once cancelled: the offer, kept as long as the stream, held the bytes.)
    cancel() {
      UNREAD.delete(stream);
    },
  });
  UNREAD.set(stream, unread);
  return stream;
}

/**
 * Offers the whole of a streamed body to a caller that takes it whole ({@linkcode takeUnread}), so
 * that its chunks need not pass through the stream.
 *
 * @param stream The caller's stream.
 * @param read Reads the whole body (once): bytes of the caller's own, filling their buffer.
 */
export function offerWhole(
  stream: ReadableStream<Uint8Array>,
  read: () => Promise<Uint8Array<ArrayBuffer>>,
): void {
  UNREAD.set(stream, read);
}

/**
 * Withdraws the offer of a body's whole ({@linkcode offerWhole}) once its stream is read or
 * cancelled: the offer holds the body, and what the cache collected of it, as long as the caller
 * holds the stream (a response kept after its body was read).
 *
 * @param stream The caller's stream.
 */
export function withdrawWhole(stream: ReadableStream<Uint8Array>): void {
  UNREAD.delete(stream);
}

/**
 * The whole of a served body that nobody has started to read, taken instead of streamed: the
 * stream is locked and disturbed, as reading it would leave it.
 *
 * @param stream The body's stream, neither locked nor disturbed.
 * @returns Stored bytes (on Node, a hit's: copy them before handing them out), or the body read
 *   into bytes of the caller's own (a streamed miss), or `undefined` when the stream must be read
 *   the usual way.
 */
export function takeUnread(
  stream: ReadableStream<Uint8Array>,
): Uint8Array | Promise<Uint8Array<ArrayBuffer>> | undefined {
  const unread = UNREAD.get(stream);
  if (unread === undefined) return undefined;
  UNREAD.delete(stream);
  const taken = typeof unread === "function" ? unread() : unread;
  stream.getReader().cancel().catch(() => {});
  return taken;
}
