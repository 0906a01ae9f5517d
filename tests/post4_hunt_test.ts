/**
 * Hunt for bugs in requests with bodies, fourth pass: what becomes of the caller's body (a stream,
 * or a `Request` that carries one) when the cache keys it and the request is not sent as it came:
 * an abort before the call, an abort while the cache reads it, a body too large to key.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { within } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";

const encoder = new TextEncoder();

/** A stream that gives one chunk, then waits for ever; records what it is cancelled with. */
function unending(cancelled: unknown[]): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return new Promise(() => {});
      sent = true;
      controller.enqueue(encoder.encode("first chunk"));
    },
    cancel(reason) {
      cancelled.push(reason);
    },
  });
}

/** The ways to give a stream body: in the init, or carried by a `Request`. */
const GIVEN: [string, (body: ReadableStream<Uint8Array>, signal: AbortSignal) => Parameters<typeof fetch>][] =
  [
    [
      "init",
      (
        body,
        signal,
      ) => ["http://127.0.0.1/upload", { method: "POST", body, duplex: "half", signal } as RequestInit],
    ],
    ["Request", (body, signal) => [
      new Request("http://127.0.0.1/upload", { method: "POST", body, duplex: "half", signal } as RequestInit),
    ]],
  ];

Deno.test("post4 hunt: a POST whose signal aborted before the call cancels its stream body, as fetch does", async () => {
  // Fetch §5.6: a request whose signal aborted before the call rejects with its reason, and its body
  // is cancelled. A session that stores POST checked the signal before reading the body for its
  // key, rejected, and left the stream open: the caller's source (a file, a pipe from a process)
  // was never told to stop. A session that sends POST past the cache did cancel it (fetch did).
  const reason = new Error("gone before the call");
  for (const allowedMethods of [["GET"], ["GET", "POST"]]) {
    // (The runtime's fetch, which rejects such a request without sending it.)
    const session = new CachedSession({ allowedMethods });
    try {
      for (const [way, args] of GIVEN) {
        const cancelled: unknown[] = [];
        const outcome = await within(
          5000,
          session.fetch(...args(unending(cancelled), AbortSignal.abort(reason))).then(
            () => "resolved",
            (e) => e,
          ),
        );
        equal(outcome, reason, `${allowedMethods} ${way}`);
        equal(cancelled.length, 1, `${allowedMethods} ${way}: the body is cancelled`);
      }
    } finally {
      await session.close();
    }
  }
});

Deno.test("post4 hunt: aborting while the cache reads a Request's stream body cancels that stream", async () => {
  // The cache reads the body for its key from a clone of the caller's Request, which keeps the
  // caller's copy of the stream: on an abort it cancelled its own copies, but the stream is
  // cancelled only once every copy is, and the caller's was not. Fetch cancels the request's body.
  const o = origin(() => reply("never"));
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  try {
    for (const [way, args] of GIVEN) {
      const cancelled: unknown[] = [];
      const controller = new AbortController();
      const pending = session.fetch(...args(unending(cancelled), controller.signal));
      // Once the cache has read what has come, the caller aborts.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const reason = new Error("the caller gave up");
      controller.abort(reason);
      equal(await within(5000, pending.then(() => "resolved", (e) => e)), reason, way);
      equal(cancelled.length, 1, `${way}: the body is cancelled`);
    }
    equal(o.calls, 0);
  } finally {
    await session.close();
  }
});

Deno.test("post4 hunt: an upload too large to key, carried by a Request, is not kept whole for that Request", async () => {
  // docs/cache-keys.md: a body larger than the largest entry is "sent as it comes (an upload is not
  // held in memory until it ends)". Given in a Request, the cache read it from a clone, which left
  // the caller's Request a copy of the stream that no one reads: every byte of the upload was
  // queued there while the caller held the Request (16 MiB for a 16 MiB upload, on every runtime).
  // Past the limit, that copy is let go of: the Request is used up, as plain fetch leaves it.
  const MiB = 1024 * 1024;
  const o = origin(async (request) => reply(`got ${(await request.arrayBuffer()).byteLength}`));
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "POST"],
    backend: new MemoryBackend({ maxEntrySize: 1024 }),
  });
  try {
    let chunks = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (chunks++ < 4) controller.enqueue(new Uint8Array(MiB));
        else controller.close();
      },
    });
    const request = new Request(
      "http://127.0.0.1/upload",
      { method: "POST", body, duplex: "half" } as RequestInit,
    );
    const response = await within(5000, session.fetch(request));
    equal(await response.text(), `got ${4 * MiB}`);
    const kept = request.bodyUsed ? 0 : (await request.arrayBuffer()).byteLength;
    equal(kept, 0);
    // (A body the cache may key still leaves the caller's Request readable, and is stored.)
    const small = () => new Request("http://127.0.0.1/upload", { method: "POST", body: "q" });
    const asked = small();
    await (await session.fetch(asked)).text();
    deepEqual([asked.bodyUsed, await asked.text()], [false, "q"]);
  } finally {
    await session.close();
  }
});
