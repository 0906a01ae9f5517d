/**
 * What HTTP client libraries pass through a fetch they are given (ky, openai, EventSource
 * polyfills): an endless event stream, a Request with a body and an init, a slow body of declared
 * length. Over real sockets; each behaves as with plain fetch.
 */
import { equal, ok } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { delay, loopback } from "./_fixtures.ts";

/** Resolves to "pending" when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"pending">((resolve) => timer = setTimeout(() => resolve("pending"), ms));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

Deno.test("an endless event stream is neither stored nor shared: each subscriber gets its own, a cancel closes it", async () => {
  let open = 0;
  const origin = await loopback(async (_request, response) => {
    // No Cache-Control: the session's expireAfter would make it storable.
    response.writeHead(200, { "content-type": "text/event-stream" });
    open++;
    response.once("close", () => open--);
    for (let i = 0; !response.destroyed; i++) {
      response.write(`data: ${i}\n\n`);
      await delay(50);
    }
  });
  const session = new CachedSession({ expireAfter: 3600, onError: () => {} });
  try {
    const first = await session.fetch(`${origin.url}/events`);
    const a = first.body!.getReader();
    ok(!(await a.read()).done);
    // A second subscriber while the first one reads: plain fetch answers it at once.
    const second = await within(session.fetch(`${origin.url}/events`), 2000);
    ok(second !== "pending", "the second subscriber waits for the end of the first one's stream");
    const b = second.body!.getReader();
    ok(!(await b.read()).done);
    equal(open, 2);
    await a.cancel();
    await b.cancel();
    for (let i = 0; i < 40 && open > 0; i++) await delay(50);
    equal(open, 0, "the origin still streams to a caller that cancelled");
  } finally {
    await origin.close();
    await session.close();
  }
});

Deno.test("a Request with a body and an init is sent with its Content-Length, as fetch sends it", async () => {
  const origin = await loopback(async (request, response) => {
    for await (const _ of request);
    response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    response.end(JSON.stringify({ length: request.headers["content-length"] ?? null }));
  });
  const session = new CachedSession({ onError: () => {} });
  try {
    // (ky calls fetch(request, {}) with a Request it built.)
    for (const body of [JSON.stringify({ a: 1 }), new URLSearchParams({ a: "1" })]) {
      const request = new Request(`${origin.url}/echo`, { method: "POST", body });
      const expected = String(new TextEncoder().encode(String(body)).length);
      const response = await session.fetch(request, {});
      equal((await response.json()).length, expected, `a ${body.constructor.name} body`);
    }
  } finally {
    await origin.close();
    await session.close();
  }
});

Deno.test("a miss whose body of declared length is still arriving is handed over with its headers", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const origin = await loopback(async (_request, response) => {
    response.writeHead(200, { "content-length": "10", "cache-control": "max-age=60" });
    response.write("01234");
    await released;
    response.end("56789");
  });
  const session = new CachedSession({ onError: () => {} });
  try {
    const ac = new AbortController();
    // (ky's `timeout` covers the wait for the response alone: it stops counting here.)
    const response = await within(session.fetch(`${origin.url}/slow`, { signal: ac.signal }), 2000);
    release();
    ok(response !== "pending", "fetch resolved only once the whole body had arrived");
    equal(await response.text(), "0123456789");
    const hit = await session.fetch(`${origin.url}/slow`);
    equal(hit.fromCache, true);
    equal(await hit.text(), "0123456789");
  } finally {
    release();
    await origin.close();
    await session.close();
  }
});
