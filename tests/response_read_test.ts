/**
 * Reading a served body whole: `arrayBuffer()`, `bytes()`, `text()` and `json()` give what a
 * plain `Response` of the same bytes gives, and leave the response as one that has been read. On
 * Node they take a body nobody has read straight from its bytes, not through its stream: these
 * tests hold on every runtime, on hits and misses, whichever way the body is reached.
 *
 * @module
 */

import { deepEqual, equal, rejects } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import type { CachedResponse } from "../src/response.ts";
import { origin, reply } from "./_origin.ts";

const JSON_BODY = '{"name":"caf\u00e9","items":[1,2,3]}';
const READERS = ["arrayBuffer", "bytes", "text", "json"] as const;

/** A served response and what it is. */
interface Served {
  response: CachedResponse;
  label: string;
  session: CachedSession;
}

/**
 * Runs `check` on a miss and a hit of `body`, its length declared (the cache reads it whole) and
 * not (the cache streams it), nothing read from either yet.
 */
async function eachServed(
  body: string | Uint8Array,
  check: (served: Served) => Promise<void>,
): Promise<void> {
  const length = typeof body === "string" ? new TextEncoder().encode(body).length : body.length;
  for (const declared of [true, false]) {
    const headers: Record<string, string> = {
      "cache-control": "max-age=60",
      "content-type": "application/json",
    };
    if (declared) headers["content-length"] = String(length);
    const server = origin(() => reply(body, headers));
    const session = new CachedSession({ fetch: server.fetch });
    await (await session.fetch("http://127.0.0.1/stored")).arrayBuffer();
    const hit = await session.fetch("http://127.0.0.1/stored");
    const miss = await session.fetch("http://127.0.0.1/new");
    deepEqual([miss.fromCache, hit.fromCache], [false, true]);
    for (const response of [miss, hit]) {
      await check({
        response,
        session,
        label: `length declared ${declared}, from cache ${response.fromCache}`,
      });
    }
    equal(server.calls, 2);
    await session.close();
  }
}

/** What a reader gives, in a form to compare. */
async function readWith(response: Response, reader: typeof READERS[number]): Promise<unknown> {
  const value = await response[reader]();
  return value instanceof ArrayBuffer
    ? [...new Uint8Array(value)]
    : value instanceof Uint8Array
    ? [...value]
    : value;
}

Deno.test("reading a served body: each reader gives what a plain Response of the same bytes gives", async () => {
  for (const reader of READERS) {
    const expected = await readWith(new Response(JSON_BODY), reader);
    await eachServed(JSON_BODY, async ({ response, label }) => {
      deepEqual(await readWith(response, reader), expected, `${reader}, ${label}`);
    });
  }
});

Deno.test("reading a served body: blob() has the bytes and the type a plain Response of them has (Bun left a streamed miss's empty)", async () => {
  const plain = await new Response(JSON_BODY, { headers: { "content-type": "application/json" } }).blob();
  await eachServed(JSON_BODY, async ({ response, label }) => {
    const blob = await response.blob();
    deepEqual([blob.type, await blob.text()], [plain.type, JSON_BODY], label);
    equal(response.bodyUsed, true, label);
  });
});

Deno.test("reading a served body: once read, the body is used and a second read fails as it would on a plain Response", async () => {
  for (const reader of READERS) {
    await eachServed(JSON_BODY, async ({ response, label }) => {
      await response[reader]();
      equal(response.bodyUsed, true, label);
      for (const again of READERS) {
        await rejects(response[again](), TypeError, `${reader} then ${again}, ${label}`);
      }
      await rejects(response.blob(), TypeError);
    });
  }
});

Deno.test("reading a served body: a body already being streamed is not read again whole", async () => {
  await eachServed(JSON_BODY, async ({ response, label }) => {
    const reader = response.body!.getReader();
    await rejects(response.arrayBuffer(), TypeError, label);
    await rejects(response.text(), TypeError, label);
    let text = "";
    const decoder = new TextDecoder();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += decoder.decode(chunk.value, { stream: true });
    }
    equal(text, JSON_BODY, label);
  });
});

Deno.test("reading a served body: a clone and its original each read the whole body", async () => {
  await eachServed(JSON_BODY, async ({ response, label }) => {
    const copy = response.clone();
    deepEqual([await response.json(), await copy.text()], [JSON.parse(JSON_BODY), JSON_BODY], label);
  });
});

Deno.test("reading a served body: writing into what was read leaves the stored body as it was", async () => {
  await eachServed(JSON_BODY, async ({ response, session, label }) => {
    const read = response.fromCache ? await response.bytes() : new Uint8Array(await response.arrayBuffer());
    read.fill(0);
    const again = await session.fetch(
      response.fromCache ? "http://127.0.0.1/stored" : "http://127.0.0.1/new",
    );
    deepEqual([again.fromCache, await again.text()], [true, JSON_BODY], label);
  });
});

Deno.test("reading a served body: text() drops a byte order mark and replaces bad UTF-8, as a plain Response does", async () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69, 0xff, 0x21]);
  const expected = await new Response(bytes).text();
  equal(expected, "hi\ufffd!");
  await eachServed(bytes, async ({ response, label }) => equal(await response.text(), expected, label));
});

Deno.test("reading a served body: json() of a body that is not JSON fails with a SyntaxError, the body used", async () => {
  await eachServed("not json", async ({ response, label }) => {
    await rejects(response.json(), SyntaxError, label);
    equal(response.bodyUsed, true, label);
  });
});

Deno.test("reading a served body: an empty body reads as empty", async () => {
  await eachServed(
    "",
    async ({ response, label }) => equal((await response.arrayBuffer()).byteLength, 0, label),
  );
});

Deno.test("reading a served body: json() keeps the platform's type, so its result reads without a cast", async () => {
  await eachServed(JSON_BODY, async ({ response, label }) => {
    // Type-checked: with `Promise<unknown>` this assignment would not compile.
    const parsed: { name: string } = await response.json();
    equal(parsed.name, "caf\u00e9", label);
  });
});

/**
 * A session whose fetch answers with a body stream of a chunk that is not bytes (a string), as a
 * custom fetch might: at once, or after `delay` ms (once the caller is reading).
 */
function nonBytesSession(delay?: number): CachedSession {
  const body = () =>
    new ReadableStream({
      async pull(controller) {
        if (delay !== undefined) await new Promise((resolve) => setTimeout(resolve, delay));
        controller.enqueue("hello");
        controller.close();
      },
    });
  return new CachedSession({
    fetch: () => Promise.resolve(new Response(body(), { headers: { "cache-control": "max-age=60" } })),
  });
}

Deno.test("reading a served body: a chunk that is not bytes fails a read of the whole with a TypeError, as fetch's does, and passes through a stream; nothing is stored", async () => {
  for (const delay of [undefined, 20]) {
    for (const reader of READERS) {
      const label = `${reader}, chunk ${delay === undefined ? "already read" : "still to come"}`;
      const session = nonBytesSession(delay);
      const response = await session.fetch("http://127.0.0.1/whole");
      await rejects(response[reader](), TypeError, label);
      const streamed = (await session.fetch("http://127.0.0.1/streamed")).body!.getReader();
      deepEqual(await streamed.read(), { done: false, value: "hello" }, label);
      deepEqual(await streamed.read(), { done: true, value: undefined }, label);
      equal(await session.cache.count(), 0, label);
      await session.close();
    }
  }
});
