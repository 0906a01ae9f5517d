/**
 * Bodies of every size and shape, at every limit, over a real loopback origin: what a hit gives
 * is what the miss's caller read, byte for byte and chunk for chunk, on every backend.
 */
import { CachedSession } from "../mod.ts";
import { READ_WHOLE_LIMIT } from "../src/body.ts";
import { assertEquals } from "./_assert.ts";
import { BACKENDS, dispose, type Loopback, loopback, patterned } from "./_fixtures.ts";

const FRESH = { "cache-control": "max-age=600" };
/** The backends each test runs on: memory, SQLite, and Redis where its server runs. */
const CASES = BACKENDS.filter(({ name }) => ["memory", "sqlite", "redis"].includes(name));

async function withServer(
  handler: Parameters<typeof loopback>[0],
  test: (server: Loopback) => Promise<void>,
) {
  const server = await loopback(handler);
  try {
    await test(server);
  } finally {
    await server.close();
  }
}

/** The lengths of the chunks a default reader reads from `response`'s body (`null`: no body). */
async function chunkLengths(response: Response): Promise<number[] | null> {
  if (response.body === null) return null;
  const reader = response.body.getReader();
  const lengths: number[] = [];
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    lengths.push(read.value.length);
  }
  return lengths;
}

// Was wrong: a HEAD response declaring a Content-Length above maxEntrySize was taken for a body
// too large to collect, and never stored, though a HEAD response has no body at all.
Deno.test("bodies: a HEAD response declaring a Content-Length above maxEntrySize is stored, and served with that length", async (t) => {
  const length = String(3 * 1024 * 1024);
  await withServer(
    (_request, response) => void response.writeHead(200, { ...FRESH, "content-length": length }).end(),
    async (server) => {
      for (const backend of CASES) {
        await t.step({
          name: backend.name,
          ignore: backend.skip !== undefined,
          async fn() {
            const cache = await backend.open({ maxEntrySize: 1024 * 1024 });
            const session = new CachedSession({ backend: cache });
            const url = `${server.url}/${backend.name}`;
            try {
              const miss = await session.fetch(url, { method: "HEAD" });
              assertEquals([miss.fromCache, miss.body, miss.headers.get("content-length")], [
                false,
                null,
                length,
              ]);
              const hit = await session.fetch(url, { method: "HEAD" });
              assertEquals([hit.fromCache, hit.body, hit.headers.get("content-length")], [
                true,
                null,
                length,
              ]);
              assertEquals(server.hitsOf(`/${backend.name}`), 1);
            } finally {
              await session.close();
              await dispose(cache);
            }
          },
        });
      }
    },
  );
});

// Was wrong (Deno): a hit of an empty body read as one chunk of no bytes (Deno's Response of no
// bytes), where fetch's body of an empty response, and the miss's, end without a chunk.
Deno.test("bodies: an empty body reads as no chunk at all from a hit, as from fetch and from the miss", async (t) => {
  await withServer((request, response) => {
    const declared = request.url!.includes("declared");
    void response.writeHead(200, declared ? { ...FRESH, "content-length": "0" } : FRESH).end();
  }, async (server) => {
    for (const backend of CASES) {
      await t.step({
        name: backend.name,
        ignore: backend.skip !== undefined,
        async fn() {
          const cache = await backend.open();
          const session = new CachedSession({ backend: cache });
          try {
            for (const path of ["/declared", "/chunked"]) {
              for (const signal of [null, new AbortController().signal]) {
                const url = `${server.url}${path}/${backend.name}/${signal ? "signal" : "none"}`;
                const plain = await chunkLengths(await fetch(url));
                assertEquals(plain, [], "what fetch gives");
                const miss = await session.fetch(url, { signal });
                assertEquals([miss.fromCache, await chunkLengths(miss)], [false, plain], `${url}: miss`);
                const hit = await session.fetch(url, { signal });
                assertEquals([hit.fromCache, await chunkLengths(hit)], [true, plain], `${url}: hit`);
                const whole = await session.fetch(url, { signal });
                assertEquals(
                  [whole.fromCache, (await whole.bytes()).length],
                  [true, 0],
                  `${url}: hit read whole`,
                );
              }
            }
          } finally {
            await session.close();
            await dispose(cache);
          }
        },
      });
    }
  });
});

// Checks the edges of the whole read (READ_WHOLE_LIMIT, and 16 KiB where Deno reads into the
// record), declared or not, arriving at once or a piece at a time: the miss's caller reads what
// plain fetch reads, and a hit gives the same bytes, with the same Content-Length.
Deno.test("bodies: at the edges of the whole read, miss and hit give what plain fetch gives, on every backend", async (t) => {
  const sizes = [0, 1, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, READ_WHOLE_LIMIT, READ_WHOLE_LIMIT + 1];
  await withServer(async (request, response) => {
    const url = new URL(request.url!, "http://127.0.0.1");
    const size = Number(url.searchParams.get("size"));
    const body = patterned(size, size % 7);
    const declared = url.searchParams.get("declared") === "1";
    response.writeHead(200, declared ? { ...FRESH, "content-length": String(size) } : FRESH);
    if (url.searchParams.get("pieces") !== "1") return void response.end(body);
    const piece = Math.max(1, Math.ceil(size / 5));
    for (let at = 0; at < size; at += piece) {
      response.write(body.subarray(at, at + piece));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    response.end();
  }, async (server) => {
    for (const backend of CASES) {
      await t.step({
        name: backend.name,
        ignore: backend.skip !== undefined,
        async fn() {
          const cache = await backend.open();
          const session = new CachedSession({ backend: cache });
          try {
            for (const size of sizes) {
              for (const declared of ["0", "1"]) {
                for (const pieces of ["0", "1"]) {
                  const url =
                    `${server.url}/${backend.name}?size=${size}&declared=${declared}&pieces=${pieces}`;
                  const plain = await fetch(url);
                  const expected = await plain.bytes();
                  assertEquals(expected, patterned(size, size % 7), `${url}: plain fetch`);
                  const miss = await session.fetch(url);
                  assertEquals([miss.fromCache, await miss.bytes()], [false, expected], `${url}: miss`);
                  const hit = await session.fetch(url);
                  const got = new Uint8Array(await new Response(hit.body).arrayBuffer());
                  assertEquals([hit.fromCache, got], [true, expected], `${url}: hit`);
                  const length = plain.headers.get("content-length");
                  assertEquals(hit.headers.get("content-length"), length, `${url}: Content-Length`);
                }
              }
            }
          } finally {
            await session.close();
            await dispose(cache);
          }
        },
      });
    }
  });
});
