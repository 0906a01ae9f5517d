/**
 * Bodies, third hunt, over real sockets: bodies whose framing a broken server gets wrong (a
 * chunked body that declares a `Content-Length` too, which fetch on Deno and Bun takes and
 * Node's refuses), on every backend and runtime: the caller gets what plain fetch gives, and
 * nothing partial or unbounded is held.
 */
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { SHARED_BODY_WAIT } from "../src/deadline.ts";
import { assert, assertEquals } from "./_assert.ts";
import { BACKENDS, delay, dispose, patterned, within } from "./_fixtures.ts";

/** A raw HTTP/1.1 origin on 127.0.0.1 that answers each request head as `answer` writes it. */
interface Raw {
  url: string;
  /** Requests received per path. */
  hitsOf(path: string): number;
  close(): Promise<void>;
}

async function rawOrigin(answer: (socket: Socket, path: string) => void): Promise<Raw> {
  const sockets = new Set<Socket>();
  const hits = new Map<string, number>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let head = "";
    socket.on("data", (data) => {
      head += data.toString("latin1");
      for (let end = head.indexOf("\r\n\r\n"); end !== -1; end = head.indexOf("\r\n\r\n")) {
        const target = head.slice(0, end).split(" ")[1] ?? "/";
        head = head.slice(end + 4);
        const path = new URL(target, "http://127.0.0.1").pathname;
        hits.set(path, (hits.get(path) ?? 0) + 1);
        answer(socket, target);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hitsOf: (path) => hits.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes `bytes` as one chunk of a chunked body. */
function writeChunk(socket: Socket, bytes: Uint8Array): void {
  socket.write(`${bytes.length.toString(16)}\r\n`);
  socket.write(bytes);
  socket.write("\r\n");
}

/** The head of a fresh chunked response that declares a `Content-Length` too. */
function chunkedHead(length: number): string {
  return "HTTP/1.1 200 OK\r\ncache-control: max-age=600\r\ntransfer-encoding: chunked\r\n" +
    `content-length: ${length}\r\n\r\n`;
}

/** What a fetch settles with: the response, or the error, as `{ error }`. */
async function settled(fetching: Promise<Response>): Promise<Response | { error: unknown }> {
  try {
    return await fetching;
  } catch (error) {
    return { error };
  }
}

/** A chunked body that never ends, declaring `Content-Length: 5`: a chunk every few ms. */
function endless(socket: Socket): void {
  socket.write(chunkedHead(5));
  const chunk = patterned(4096, 1);
  const timer = setInterval(() => {
    if (socket.destroyed || socket.writableNeedDrain) return void (socket.destroyed && clearInterval(timer));
    writeChunk(socket, chunk);
  }, 5);
}

// Was wrong: on Deno and Bun a chunked body that also declared a small Content-Length (a broken
// server's; fetch there takes the chunked framing, which overrides it) was read whole by the
// cache before its caller got any of it: a body that never ends (a feed) never reached its
// caller, who got its first bytes at once from plain fetch, and was held in memory, however
// large, beyond maxEntrySize.
Deno.test("bodies3: a chunked body that declares a Content-Length too streams to its caller as plain fetch's does", async () => {
  const server = await rawOrigin(endless);
  // (A small maxEntrySize: the cache lets go of the body, and the caller's cancel reaches the origin.)
  const session = new CachedSession({ backend: new MemoryBackend({ maxEntrySize: 64 * 1024 }) });
  try {
    const plain = await settled(fetch(`${server.url}/plain`));
    const cached = await settled(session.fetch(`${server.url}/feed`));
    if ("error" in plain) {
      // Node's fetch refuses the response: so does the session, with the same error.
      assert("error" in cached, "the session took what plain fetch refused");
      assertEquals(String(cached.error), String(plain.error));
      return;
    }
    const first = await plain.body!.getReader().read();
    await plain.body!.cancel().catch(() => {});
    assert(!("error" in cached), `the session failed: ${"error" in cached && String(cached.error)}`);
    const reader = cached.body!.getReader();
    const read = await within(5000, reader.read());
    assertEquals(read.done, false);
    // The first chunk's bytes, as plain fetch's first read gave them.
    assertEquals(read.value!.subarray(0, 16), first.value!.subarray(0, 16));
    await reader.cancel();
  } finally {
    await session.close();
    await server.close();
  }
});

// Was wrong: identical requests waiting on such a body took its Content-Length for the body's
// length, so waited for it to end however long that took (a feed's: for ever), instead of
// asking the origin themselves after a while, as for any chunked body.
Deno.test("bodies3: requests waiting on an endless chunked body that declares a Content-Length ask the origin themselves", async () => {
  let answered = 0;
  const server = await rawOrigin((socket) => {
    if (++answered === 1) return endless(socket);
    const body = new TextEncoder().encode("second");
    socket.write(chunkedHead(body.length));
    writeChunk(socket, body);
    socket.write("0\r\n\r\n");
  });
  // The waiters' wait, shortened (the cache's timers are armed with setTimeout).
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout =
    ((run: () => void, ms?: number) => setTimer(run, ms === SHARED_BODY_WAIT ? 20 : ms)) as typeof setTimeout;
  const session = new CachedSession();
  try {
    const plain = await settled(fetch(`${server.url}/probe`));
    answered = 0;
    if ("error" in plain) return; // (Node's fetch refuses such a response: nothing to wait on.)
    await plain.body?.cancel();
    const url = `${server.url}/feed`;
    const leader = await session.fetch(url);
    const waiter = session.fetch(url);
    await delay(5); // the waiter waits on the leader's body
    const response = await within(5000, waiter);
    assertEquals(await within(5000, response.text()), "second");
    assertEquals(server.hitsOf("/feed"), 2);
    await leader.body!.cancel();
  } finally {
    globalThis.setTimeout = setTimer;
    await session.close();
    await server.close();
  }
});

// Was wrong: a chunked body that declared a Content-Length above the backend's maxEntrySize was
// taken for a body too large to store, and never stored, whatever its real length.
Deno.test("bodies3: a chunked body that declares a wrong Content-Length is stored byte for byte on every backend", async (t) => {
  const body = patterned(100_000, 3);
  const server = await rawOrigin((socket, target) => {
    const declared = Number(new URL(target, "http://127.0.0.1").searchParams.get("declared"));
    socket.write(chunkedHead(declared));
    for (let at = 0; at < body.length; at += 7000) writeChunk(socket, body.subarray(at, at + 7000));
    socket.write("0\r\n\r\n");
  });
  try {
    for (const backend of BACKENDS) {
      await t.step({
        name: backend.name,
        ignore: backend.skip !== undefined,
        async fn() {
          const cache = await backend.open({ maxEntrySize: 1024 * 1024 });
          const errors: unknown[] = [];
          const session = new CachedSession({ backend: cache, onError: (error) => errors.push(error) });
          try {
            // Shorter than the body; longer than maxEntrySize.
            for (const declared of [5, 1024 * 1024 * 1024]) {
              const url = `${server.url}/${backend.name}?declared=${declared}`;
              const plain = await settled(fetch(url));
              if ("error" in plain) {
                // Node's fetch refuses the response: so does the session, with the same error.
                const cached = await settled(session.fetch(url));
                assert("error" in cached, "the session took what plain fetch refused");
                assertEquals(String(cached.error), String(plain.error));
                continue;
              }
              assertEquals(await plain.bytes(), body, "plain fetch");
              const miss = await session.fetch(url);
              assertEquals([miss.fromCache, await miss.bytes()], [false, body], `${declared}: miss`);
              const hit = await session.fetch(url);
              assertEquals([hit.fromCache, await hit.bytes()], [true, body], `${declared}: hit`);
            }
            assertEquals(errors, []);
          } finally {
            await session.close();
            await dispose(cache);
          }
        },
      });
    }
  } finally {
    await server.close();
  }
});
