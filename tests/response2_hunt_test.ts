/**
 * How faithfully a `CachedResponse` matches what plain `fetch` gives for the same origin response,
 * a second pass: its `type`, and the `url` and `redirected` of a response whose status no
 * `Response` can be built with; and, where a hunt found it sound, that no read of a body can
 * change what the cache serves next.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { CachedSession } from "../mod.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { loopback } from "./_fixtures.ts";
import { Clock, httpDate, origin, reply } from "./_origin.ts";

/** The URL without its fragment (Bun's fetch keeps the request's fragment in its response's url). */
function unfragmented(url: string): string {
  const hash = url.indexOf("#");
  return hash === -1 ? url : url.slice(0, hash);
}

// A miss, a hit and every other response the session built said `type` "default", where fetch's
// responses say "basic" (Deno, Node): the network response's type was dropped, and a response
// from the cache had the type of a `Response` made by hand.
Deno.test("response2: type is the one plain fetch gives, on a miss, a hit, a revalidated and a stale-if-error response, their clones and after redirects", async () => {
  const clock = new Clock();
  let failing = false;
  const server = await loopback((request, response) => {
    if (request.url === "/moved") {
      response.writeHead(301, {
        location: "/item",
        "cache-control": "max-age=600",
        date: httpDate(clock.now),
      });
      return void response.end();
    }
    if (failing) return void response.writeHead(500, { date: httpDate(clock.now) }).end("down");
    const fields = {
      "cache-control": "max-age=10, stale-if-error=600",
      etag: '"v1"',
      date: httpDate(clock.now),
      "content-type": "text/plain",
    };
    if (request.headers["if-none-match"] === '"v1"') return void response.writeHead(304, fields).end();
    response.writeHead(200, fields).end("hello");
  });
  const session = new CachedSession({ now: clock.fn });
  try {
    const plain = await fetch(`${server.url}/item`);
    await plain.arrayBuffer();
    const plainMoved = await fetch(`${server.url}/moved`);
    await plainMoved.arrayBuffer();
    const served: [string, Response][] = [];
    const serve = async (label: string, url: string) => {
      const response = await session.fetch(url);
      served.push([label, response], [`${label}, cloned`, response.clone()]);
      await response.arrayBuffer();
    };
    await serve("miss", `${server.url}/item`);
    await serve("hit", `${server.url}/item#part`);
    await serve("by a redirect", `${server.url}/moved`);
    await serve("by a stored redirect", `${server.url}/moved`);
    clock.tick(20);
    await serve("revalidated", `${server.url}/item`);
    clock.tick(20);
    failing = true;
    await serve("stale-if-error", `${server.url}/item`);
    const kinds = served.map(([label, response]) => [label, response.type]);
    deepEqual(kinds, served.map(([label]) => [label, plain.type]));
    deepEqual(plainMoved.type, plain.type);
    // (Each what it says it is.)
    const sources = served.filter((_, i) => i % 2 === 0).map(([label, response]) => {
      const { fromCache, revalidated } = response as Response & { fromCache: boolean; revalidated: boolean };
      return [label, fromCache, revalidated, response.redirected, response.url];
    });
    const url = unfragmented(plain.url);
    deepEqual(sources, [
      ["miss", false, false, false, url],
      ["hit", true, false, false, url],
      ["by a redirect", true, false, true, url],
      ["by a stored redirect", true, false, true, url],
      ["revalidated", true, true, false, url],
      ["stale-if-error", true, false, false, url],
    ]);
  } finally {
    await session.close();
    await server.close();
  }
});

// The type of the response the wrapped fetch gave is kept: a hand-made one's "default" too.
Deno.test("response2: a miss keeps the type of the response its fetch gave", async () => {
  const server = origin(() => reply("hello", { "cache-control": "max-age=60" }));
  const session = new CachedSession({ fetch: server.fetch });
  const miss = await session.fetch("http://127.0.0.1/item");
  deepEqual([miss.fromCache, miss.type, miss.clone().type], [false, "default", "default"]);
  await miss.arrayBuffer();
  await session.close();
});

/** A raw HTTP/1.1 server: `answer` gives the whole response (status line, fields, body) to a request for a path. */
async function rawServer(answer: (path: string) => string): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", (data) => {
      const path = String(data).split(" ")[1] ?? "/";
      socket.end(answer(path));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// A status outside 200-599 is handed on as the response fetch made, taken over whole; that
// response was also its own source of `url` and `redirected`, whose getters then asked
// themselves: reading `url`, `redirected` or `clone().url` threw a RangeError (call stack).
Deno.test("response2: a response with a status no Response can be built with (999) has fetch's url and redirected, as does its clone", async () => {
  const server = await rawServer((path) =>
    path === "/moved"
      ? "HTTP/1.1 302 Found\r\nlocation: /odd\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
      : "HTTP/1.1 999 Odd\r\ncache-control: max-age=60\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
  );
  const session = new CachedSession();
  try {
    for (const path of ["/odd#part", "/moved"]) {
      const plain = await fetch(server.url + path);
      await plain.arrayBuffer();
      const expected = [
        999,
        plain.statusText,
        unfragmented(plain.url),
        plain.redirected,
        plain.type,
        "hello",
      ];
      const response = await session.fetch(server.url + path);
      const copy = response.clone();
      for (const served of [response, copy]) {
        deepEqual(
          [served.status, served.statusText, served.url, served.redirected, served.type, await served.text()],
          expected,
          path,
        );
      }
      equal(response.fromCache, false, path);
    }
  } finally {
    await session.close();
    await server.close();
  }
});

/** Each way a caller reads a body, as the chunks it gets (its own to write into). */
const READS: Record<string, (response: Response) => Promise<Uint8Array[]>> = {
  arrayBuffer: async (response) => [new Uint8Array(await response.arrayBuffer())],
  bytes: async (response) => [await response.bytes()],
  blob: async (response) => [new Uint8Array(await (await response.blob()).arrayBuffer())],
  stream: async (response) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of response.body!) chunks.push(chunk);
    return chunks;
  },
  byob: async (response) => {
    let reader: ReadableStreamBYOBReader;
    try {
      reader = response.body!.getReader({ mode: "byob" });
    } catch {
      return await READS.stream!(response); // (no byte stream: a Deno hit's, any body on Bun)
    }
    const chunks: Uint8Array[] = [];
    for (
      let read = await reader.read(new Uint8Array(1000));
      !read.done;
      read = await reader.read(new Uint8Array(1000))
    ) {
      chunks.push(read.value);
    }
    return chunks;
  },
  clone: async (response) => {
    const copy = response.clone();
    return [await response.bytes(), ...await READS.stream!(copy)];
  },
  tee: async (response) => {
    const [one, two] = response.body!.tee();
    const chunks = [new Uint8Array(await new Response(one).arrayBuffer())];
    for await (const chunk of two) chunks.push(chunk);
    return chunks;
  },
};

// Not a bug found: a guard. Whatever a caller writes into the bytes it read, by any reader, of a
// miss, a hit, a revalidated or a stale-if-error response, the next hit serves the stored body.
Deno.test("response2: writing into what any reader gave, of any served response, leaves what the memory backend serves next", async () => {
  const body = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7 + 3) & 0xff);
  for (const declared of [true, false]) {
    for (const [name, read] of Object.entries(READS)) {
      for (const kind of ["miss", "hit", "revalidated", "stale-if-error"]) {
        const label = `${name}, ${kind}, length declared ${declared}`;
        const clock = new Clock();
        let failing = false;
        const fields: Record<string, string> = {
          "cache-control": "max-age=10, stale-if-error=600",
          etag: '"v1"',
        };
        if (declared) fields["content-length"] = String(body.length);
        const server = origin((request) =>
          failing
            ? reply("down", {}, { status: 500, clock })
            : request.headers.get("if-none-match") === '"v1"'
            ? reply(null, fields, { status: 304, clock })
            : reply(body, fields, { clock })
        );
        const session = new CachedSession({
          backend: new MemoryBackend(),
          fetch: server.fetch,
          now: clock.fn,
        });
        const url = "http://127.0.0.1/item";
        if (kind !== "miss") await (await session.fetch(url)).arrayBuffer();
        if (kind === "revalidated" || kind === "stale-if-error") clock.tick(20);
        failing = kind === "stale-if-error";
        const response = await session.fetch(url);
        deepEqual(
          [response.fromCache, response.revalidated],
          [kind !== "miss", kind === "revalidated"],
          label,
        );
        for (const chunk of await read(response)) chunk.fill(0);
        failing = false;
        const next = await session.fetch(url);
        equal(next.fromCache, true, label);
        deepEqual(new Uint8Array(await next.arrayBuffer()), body, label);
        await session.close();
      }
    }
  }
});
