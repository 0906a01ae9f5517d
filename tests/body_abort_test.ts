/**
 * A miss's body and the request's abort signal, after the response has arrived: as fetch's, the
 * body fails with the signal's reason when the signal aborts before the caller has read it all,
 * even when the whole body has arrived (Fetch, "abort fetch"; WPT fetch/api/abort/general.any.js).
 * The cache still stores a body it has read whole: the abort ends the caller's reading, as a
 * cancel does. A small body of declared length is read whole before the response is handed over
 * on Deno and Bun, and streamed on Node (src/served_body.ts, `READS_WHOLE`): these tests hold
 * either way.
 *
 * @module
 */

import { deepEqual, equal, rejects } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { abortListeners } from "./_fixtures.ts";
import { settle } from "./_origin.ts";
import { listenersOf } from "./_listeners.ts";

const BODY = "x".repeat(100);
const CHUNKS = ["one ", "two ", "three"];

/** An abort signal that counts its `abort` listeners, and the abort reason it will give. */
function countedSignal(): { controller: AbortController; reason: Error; listeners: () => number } {
  const controller = new AbortController();
  const listening = listenersOf(controller.signal);
  controller.signal.addEventListener("abort", () => listening.clear()); // (`once` listeners go as it aborts)
  return { controller, reason: new Error("stop"), listeners: () => listening.size - 1 };
}

/**
 * A session whose fetch answers every request with `chunks`, its length declared or not, as a
 * fetch that ignores the request's signal would: the body arrives whole whatever the signal does.
 */
function session(declared: boolean, chunks: string[] = [BODY]): CachedSession {
  const length = chunks.join("").length;
  return new CachedSession({
    fetch: () => {
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
          controller.close();
        },
      });
      const headers: Record<string, string> = { "cache-control": "max-age=60" };
      if (declared) headers["content-length"] = String(length);
      return Promise.resolve(new Response(body, { headers }));
    },
  });
}

/** Reads a body to its end through its stream, as text. */
async function streamed(response: Response): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) text += decoder.decode(chunk, { stream: true });
  return text;
}

Deno.test("body abort: a signal that aborts once the whole body has arrived, before it is read, fails the body with its reason; the body is stored", async () => {
  for (const declared of [true, false]) {
    for (const read of ["text", "stream"] as const) {
      const label = `length declared ${declared}, read by ${read}`;
      const s = session(declared);
      const { controller, reason } = countedSignal();
      const response = await s.fetch("http://127.0.0.1/item", { signal: controller.signal });
      await settle(); // the body has arrived, and been stored
      controller.abort(reason);
      await rejects(
        read === "text" ? response.text() : streamed(response),
        (error) => error === reason,
        label,
      );
      const hit = await s.fetch("http://127.0.0.1/item");
      deepEqual([hit.fromCache, await hit.text()], [true, BODY], label);
      await s.close();
    }
  }
});

Deno.test("body abort: a signal that aborts while chunks are left to read fails the rest with its reason", async () => {
  const s = session(false, CHUNKS);
  const { controller, reason } = countedSignal();
  const response = await s.fetch("http://127.0.0.1/item", { signal: controller.signal });
  await settle();
  const reader = response.body!.getReader();
  equal(new TextDecoder().decode((await reader.read()).value), CHUNKS[0]);
  controller.abort(reason);
  await rejects(reader.read(), (error) => error === reason);
  equal((await s.fetch("http://127.0.0.1/item")).fromCache, true);
  await s.close();
});

Deno.test("body abort: a body read to its end, or cancelled, before the signal aborts stays read, and stops following the signal", async () => {
  for (const declared of [true, false]) {
    for (const read of ["text", "stream", "cancel"] as const) {
      const label = `length declared ${declared}, ${read}`;
      const s = session(declared, CHUNKS);
      const { controller, listeners } = countedSignal();
      const response = await s.fetch("http://127.0.0.1/item", { signal: controller.signal });
      await settle();
      equal(listeners(), 1, label);
      if (read === "cancel") await response.body!.cancel();
      else equal(read === "text" ? await response.text() : await streamed(response), CHUNKS.join(""), label);
      equal(listeners(), 0, label);
      controller.abort();
      await s.close();
    }
  }
});

Deno.test("body abort: an abort half-way through a body that the network still completes fails the caller's body; the cache reads on and stores it, as after a cancel", async () => {
  for (const read of ["text", "stream"] as const) {
    let release!: () => void;
    const arrived = new Promise<void>((resolve) => release = resolve);
    const s = new CachedSession({
      fetch: () => {
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode(CHUNKS[0]));
            await arrived;
            controller.enqueue(new TextEncoder().encode(CHUNKS[1]));
            controller.close();
          },
        });
        return Promise.resolve(new Response(body, { headers: { "cache-control": "max-age=60" } }));
      },
    });
    const { controller, reason } = countedSignal();
    const response = await s.fetch("http://127.0.0.1/item", { signal: controller.signal });
    const reading = read === "text" ? response.text() : streamed(response);
    await settle();
    controller.abort(reason);
    release();
    await rejects(reading, (error) => error === reason, read);
    await settle();
    const hit = await s.fetch("http://127.0.0.1/item");
    deepEqual([hit.fromCache, await hit.text()], [true, CHUNKS[0]! + CHUNKS[1]], read);
    await s.close();
  }
});

Deno.test("body abort: bodies cancelled once the cache has read them leave no listener on the session's closing signal", async () => {
  // Each such listener stayed until its body was collected: many made every request slower.
  const listeners = abortListeners();
  const s = session(false, CHUNKS);
  try {
    const kept: Response[] = []; // (not collected: a listener of one would stay)
    for (let i = 0; i < 20; i++) {
      const response = await s.fetch(`http://127.0.0.1/cancelled/${i}`);
      await settle(); // the cache reads the body to its end
      await response.body!.cancel();
      kept.push(response);
    }
    const most = listeners.most();
    equal(most <= 1, true, `abort listeners left on one signal: ${most}`);
  } finally {
    listeners.restore();
    await s.close();
  }
});
