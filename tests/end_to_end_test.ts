/**
 * CachedSession over the real fetch of the runtime, against a real HTTP server on 127.0.0.1:
 * what the scripted-origin tests cannot show (real redirects, real streaming, real 304s, real
 * request bodies).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { assert, assertEquals } from "./_assert.ts";
import { CachedSession } from "../mod.ts";

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

/** Starts a server on a free loopback port; `hits` counts requests per path. */
async function serve(routes: Record<string, Handler>) {
  const hits = new Map<string, number>();
  const server = createServer((request, response) => {
    const chunks: Uint8Array[] = [];
    request.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    request.on("end", () => {
      const path = new URL(request.url!, "http://127.0.0.1").pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const handler = routes[path];
      if (handler === undefined) return void response.writeHead(404).end("not found");
      handler(request, response, new TextDecoder().decode(concat(chunks)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (path: string) => base + path,
    hits: (path: string) => hits.get(path) ?? 0,
    // (Connections the client keeps alive are closed too: waiting for them can take its pool's 90 s.)
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** A response's fields that a cache keeps and passes on (RFC 9111 §3.1), without Age and Date. */
function endToEnd(response: Response): [string, string][] {
  const dropped = new Set(["age", "date", "connection", "keep-alive", "transfer-encoding"]);
  return [...response.headers].filter(([name]) => !dropped.has(name));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) out.set(chunk, (at += chunk.length) - chunk.length);
  return out;
}

Deno.test("end to end: miss, then hit, with the body streamed in chunks and stored whole", async () => {
  const chunk = "x".repeat(64 * 1024);
  const server = await serve({
    "/stream": (_request, response) => {
      response.writeHead(200, { "cache-control": "max-age=60", "content-type": "text/plain" });
      let sent = 0;
      const next = () => (++sent > 8 ? response.end() : response.write(chunk, () => setTimeout(next, 1)));
      next();
    },
  });
  const session = new CachedSession();
  try {
    const first = await session.fetch(server.url("/stream"));
    assertEquals([first.fromCache, (await first.text()).length], [false, 8 * chunk.length]);
    const second = await session.fetch(server.url("/stream"));
    assertEquals([second.fromCache, (await second.text()).length], [true, 8 * chunk.length]);
    assertEquals(second.headers.get("content-type"), "text/plain");
    assertEquals(server.hits("/stream"), 1);
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("end to end: a miss's url has no fragment, as a hit's and fetch's (Fetch: the url getter excludes it)", async () => {
  // (Bun's fetch kept the fragment in `response.url`: a miss's url had it, the same URL's hit's not.)
  const server = await serve({
    "/page": (_request, response) => response.writeHead(200, { "cache-control": "max-age=60" }).end("p"),
  });
  const session = new CachedSession();
  try {
    const urls = [];
    for (let i = 0; i < 2; i++) {
      const response = await session.fetch(server.url("/page?q=1#part"));
      await response.text();
      urls.push([response.fromCache, response.url]);
    }
    assertEquals(urls, [[false, server.url("/page?q=1")], [true, server.url("/page?q=1")]]);
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("end to end: a compressed body is stored as fetch decodes it, and a hit gives what the miss gave", async () => {
  const value = { items: Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `item ${i}` })) };
  const json = new TextEncoder().encode(JSON.stringify(value));
  const codings = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
  const routes: Record<string, Handler> = {};
  for (const [coding, compress] of Object.entries(codings)) {
    const compressed = compress(json);
    for (const declared of [true, false]) {
      routes[`/${coding}/${declared}`] = (_request, response) => {
        const headers: Record<string, string> = {
          "cache-control": "max-age=60",
          "content-type": "application/json",
          "content-encoding": coding,
        };
        // The length of what is sent: the compressed bytes, not the body fetch hands over.
        if (declared) headers["content-length"] = String(compressed.length);
        response.writeHead(200, headers);
        response.end(compressed);
      };
    }
  }
  const server = await serve(routes);
  const session = new CachedSession();
  try {
    for (const path of Object.keys(routes)) {
      const coding = path.split("/")[1];
      // What the runtime's fetch decodes, it decodes for the cache too: the same bytes throughout.
      const plain = await fetch(server.url(path));
      const expected = [...new Uint8Array(await plain.arrayBuffer())];
      const miss = await session.fetch(server.url(path));
      assertEquals([miss.fromCache, [...new Uint8Array(await miss.arrayBuffer())]], [false, expected], path);
      const hit = await session.fetch(server.url(path));
      assertEquals([hit.fromCache, [...new Uint8Array(await hit.arrayBuffer())]], [true, expected], path);
      // Deno 2.9's fetch hands a deflate body over as it was sent; the others decode every coding.
      if (coding !== "deflate") {
        assertEquals(JSON.parse(new TextDecoder().decode(new Uint8Array(expected))), value);
      }
      // The end-to-end fields as fetch gave them, Content-Encoding and Content-Length included.
      assertEquals(endToEnd(hit), endToEnd(miss), path);
      assertEquals(endToEnd(miss), endToEnd(plain), path);
      assertEquals(server.hits(path), 2, `${path}: once for plain fetch, once for the miss`);
    }
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("end to end: a redirect and where it leads are each stored, and found again", async () => {
  const server = await serve({
    "/old": (_request, response) =>
      void response.writeHead(301, { location: "/new", "cache-control": "max-age=60" }).end(),
    "/new": (_request, response) =>
      void response.writeHead(200, { "cache-control": "max-age=60" }).end("moved"),
  });
  const session = new CachedSession();
  try {
    const first = await session.fetch(server.url("/old"));
    assertEquals([await first.text(), first.redirected, first.url], ["moved", true, server.url("/new")]);
    const again = await session.fetch(server.url("/old"));
    assertEquals([again.fromCache, again.redirected, again.url], [true, true, server.url("/new")]);
    await again.body?.cancel();
    const direct = await session.fetch(server.url("/new"));
    assertEquals([direct.fromCache, await direct.text()], [true, "moved"]);
    assertEquals([server.hits("/old"), server.hits("/new")], [1, 1]);
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("end to end: a stale entry is revalidated with If-None-Match and the server's 304", async () => {
  let now = Date.now();
  const server = await serve({
    "/etag": (request, response) => {
      response.setHeader("date", new Date(now).toUTCString()); // the server shares the test's clock
      if (request.headers["if-none-match"] === '"v1"') {
        return void response.writeHead(304, { etag: '"v1"', "cache-control": "max-age=10" }).end();
      }
      response.writeHead(200, { etag: '"v1"', "cache-control": "max-age=10" }).end("body v1");
    },
  });
  const session = new CachedSession({ now: () => now });
  try {
    await (await session.fetch(server.url("/etag"))).text();
    now += 20_000;
    const revalidated = await session.fetch(server.url("/etag"));
    assertEquals([revalidated.status, revalidated.revalidated, await revalidated.text()], [
      200,
      true,
      "body v1",
    ]);
    const fresh = await session.fetch(server.url("/etag"));
    assertEquals([fresh.fromCache, fresh.revalidated], [true, false]);
    await fresh.body?.cancel();
    assertEquals(server.hits("/etag"), 2);
  } finally {
    await session.close();
    await server.close();
  }
});

Deno.test("end to end: POST bodies are part of the key, and the caller's Request stays readable", async () => {
  const server = await serve({
    "/search": (_request, response, body) =>
      void response.writeHead(200, { "cache-control": "max-age=60" }).end(`results for ${body}`),
  });
  const session = new CachedSession({ allowedMethods: ["GET", "POST"] });
  try {
    const ask = async (query: string) => {
      const request = new Request(server.url("/search"), { method: "POST", body: query });
      const response = await session.fetch(request);
      assert(!request.bodyUsed, "the caller's request stays unread");
      return [response.fromCache, await response.text()];
    };
    assertEquals(await ask("cats"), [false, "results for cats"]);
    assertEquals(await ask("dogs"), [false, "results for dogs"]);
    assertEquals(await ask("cats"), [true, "results for cats"]);
    assertEquals(server.hits("/search"), 2);
  } finally {
    await session.close();
    await server.close();
  }
});
