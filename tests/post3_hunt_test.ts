/**
 * Hunt for bugs in unsafe methods and stored `POST`s, third pass: request bodies read for the key
 * (and what still reaches the origin), invalidation by methods in any case and by unknown methods.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { loopback, within } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";
import { RUNTIME } from "./_runtime.ts";

const encoder = new TextEncoder();

/** A stream of these texts, one chunk each, then closed. */
function streamOf(...texts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const text of texts) controller.enqueue(encoder.encode(text));
      controller.close();
    },
  });
}

Deno.test("post3 hunt: an upload larger than the cache stores reaches the origin as it comes, uncached", async () => {
  // A session storing POST read the whole body of every POST for its key before sending a byte of
  // it: a streamed upload (a file of gigabytes, a pipe from a process) was held in memory twice
  // (the copy read, and the tee's branch kept for fetch) until it ended, and one whose end waits
  // for the origin (a live feed the server answers) never reached it at all. A body larger than
  // the largest entry the storage holds is now sent as it comes, past the cache.
  let reached!: () => void;
  const atOrigin = new Promise<void>((resolve) => reached = resolve);
  let version = 1;
  const o = origin(async (request) => {
    if (request.method === "GET") return reply(`v${version}`, { "cache-control": "max-age=600" });
    reached();
    const size = (await request.arrayBuffer()).byteLength;
    return reply(`got ${size} v${++version}`, { "cache-control": "max-age=600" });
  });
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "POST"],
    backend: new MemoryBackend({ maxEntrySize: 1024 }),
    onError: (error) => void errors.push(error),
  });
  /** 4 KiB, then the end once the origin has the request. */
  const upload = () => {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent++ < 4) return controller.enqueue(new Uint8Array(1024));
        await atOrigin;
        controller.close();
      },
    });
  };
  const get = async () => {
    const response = await session.fetch("http://127.0.0.1/upload");
    return `${response.fromCache} ${await response.text()}`;
  };
  const post = async (init: RequestInit) => {
    const response = await within(
      5000,
      session.fetch("http://127.0.0.1/upload", { method: "POST", duplex: "half", ...init } as RequestInit),
    );
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    deepEqual([await get(), await get()], ["false v1", "true v1"]);
    equal(await post({ body: upload() }), "false got 4096 v2");
    // Sent past the cache: not stored, and it still invalidated the URL (RFC 9111 §4.4).
    equal(await get(), "false v2");
    equal(await post({ body: upload(), signal: new AbortController().signal }), "false got 4096 v3");
    deepEqual(errors, []);
    // (A body the cache may key is stored as before.)
    deepEqual([await post({ body: "small" }), await post({ body: "small" })], [
      "false got 5 v4",
      "true got 5 v4",
    ]);
  } finally {
    await session.close();
  }
});

Deno.test("post3 hunt: every kind of body reaches a real origin as plain fetch sends it, keyed or too large to key", async () => {
  // What the origin receives (method, Content-Length or chunked, Content-Type, bytes) is what
  // plain fetch sends, whether the session stores POST or not, the body is read for its key (with
  // or without a signal, which reads it as a stream) or is too large to key, given in an init or a
  // Request, and whatever the case of the method. (Bun's fetch takes "Post" for a GET.)
  const seen: string[] = [];
  const server = await loopback(async (request, response) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of request) chunks.push(chunk as Uint8Array);
    const type = String(request.headers["content-type"] ?? "");
    const boundary = /boundary=(.*)$/.exec(type)?.[1];
    let body = new TextDecoder().decode(await new Blob(chunks as BlobPart[]).arrayBuffer());
    if (boundary !== undefined) body = body.split(boundary).join("<boundary>");
    const { "content-length": length, "transfer-encoding": coding } = request.headers;
    seen.push(`${request.method} ${length} ${coding} ${type.replace(/boundary=.*/, "")} ${body}`);
    response.writeHead(200, { "cache-control": "max-age=600" }).end("ok");
  });
  const form = () => {
    const form = new FormData();
    form.append("a", "1");
    form.append("file", new Blob(["xyz"], { type: "text/plain" }), "f.txt");
    return form;
  };
  const bodies: [string, () => RequestInit][] = [
    ["string", () => ({ body: "hello" })],
    ["blob", () => ({ body: new Blob(["blob!"], { type: "application/json" }) })],
    ["params", () => ({ body: new URLSearchParams({ b: "2", a: "1" }) })],
    ["form", () => ({ body: form() })],
    ["bytes", () => ({ body: encoder.encode("bytes").subarray(1) })],
    ["stream", () => ({ body: streamOf("str", "eam"), duplex: "half" } as RequestInit)],
  ];
  const ways = [
    { request: false, small: false, signal: false },
    { request: true, small: false, signal: false },
    { request: false, small: false, signal: true },
    { request: false, small: true, signal: false },
    { request: true, small: true, signal: true },
  ];
  try {
    for (const allowedMethods of [["GET", "POST"], ["GET"]]) {
      for (const [name, init] of bodies) {
        for (const method of RUNTIME === "bun" ? ["POST", "post"] : ["POST", "post", "Post"]) {
          seen.length = 0;
          await (await fetch(`${server.url}/${name}`, { method, ...init() })).text();
          for (const way of ways) {
            // (Each in a session of its own: a second one would be answered from the cache.)
            const session = new CachedSession({
              allowedMethods,
              ...(way.small && { backend: new MemoryBackend({ maxEntrySize: 4 }) }),
            });
            const given = { method, ...init(), ...(way.signal && { signal: new AbortController().signal }) };
            try {
              const url = `${server.url}/${name}`;
              const response = way.request
                ? await session.fetch(new Request(url, given))
                : await session.fetch(url, given);
              await response.text();
            } finally {
              await session.close();
            }
          }
          deepEqual(seen.slice(1), ways.map(() => seen[0]), `${allowedMethods} ${name} ${method}`);
        }
      }
    }
  } finally {
    await server.close();
  }
});

Deno.test("post3 hunt: a method in any case, or one the cache does not know, invalidates the URL", async () => {
  // RFC 9111 §4.4: a non-error response to an unsafe method, "including methods whose safety is
  // unknown", invalidates the target URI: `post` is POST (fetch upper-cases it), and PURGE, FOO
  // or `purge` (sent as written) are unknown, whether the session stores them or not.
  let version = 1;
  const o = origin((request) =>
    request.method === "GET"
      ? reply(`v${version}`, { "cache-control": "max-age=600" })
      : reply(`${request.method} ${++version}`, { "cache-control": "max-age=600" })
  );
  for (const allowedMethods of [["GET"], ["GET", "POST", "PURGE", "purge", "FOO"]]) {
    const session = new CachedSession({ fetch: o.fetch, allowedMethods });
    const get = async () => (await session.fetch("http://127.0.0.1/a")).fromCache;
    try {
      const methods = [
        "post",
        ...(RUNTIME === "bun" ? [] : ["Post"]),
        "PURGE",
        "purge",
        "delete",
        "put",
        "FOO",
      ];
      for (const method of methods) {
        await get();
        const body = method === "delete" ? null : `${allowedMethods} ${method}`;
        await (await session.fetch("http://127.0.0.1/a", { method, body })).text();
        equal(await get(), false, `${allowedMethods}: ${method}`);
      }
      // (A safe method invalidates nothing.)
      await (await session.fetch("http://127.0.0.1/a", { method: "options" })).text();
      equal(await get(), true);
    } finally {
      await session.close();
    }
  }
});
