/**
 * Run by `unread_bodies_test.ts` in a process of its own, with the garbage collector exposed:
 * responses dropped unread, then collected. Prints one JSON line: the abort listeners left on a
 * signal that outlives them, and the connections left open at the origin after each round.
 *
 * @module
 */

import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import process from "node:process";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { listenersOf } from "./_listeners.ts";

const gc = (globalThis as { gc?: () => void }).gc ??
  (() => (globalThis as unknown as { Bun: { gc(force: boolean): void } }).Bun.gc(true));

/** Collects garbage, and lets the finalizers that follow run. */
async function collect(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// 1. One signal for many requests, each response dropped unread: misses (declared length, and
// streamed) and hits. (A fetch that never looks at the signal: only the cache's listeners count.)
const controller = new AbortController();
const live = listenersOf(controller.signal);
const body = "x".repeat(10_000);
const session = new CachedSession({
  fetch: (input) => {
    const streamed = String(input).includes("streamed");
    const headers: Record<string, string> = { "cache-control": "max-age=600" };
    if (!streamed) headers["content-length"] = String(body.length);
    return Promise.resolve(new Response(streamed ? new Blob([body]).stream() : body, { headers }));
  },
});
await (await session.fetch("http://127.0.0.1/hit")).text();
for (let i = 0; i < 100; i++) {
  for (
    const url of [`http://127.0.0.1/declared/${i}`, `http://127.0.0.1/streamed/${i}`, "http://127.0.0.1/hit"]
  ) {
    await session.fetch(url, { signal: controller.signal });
  }
}
await collect();
const listeners = live.size;
await session.close();

// 2. Bodies larger than the cache keeps, from a real origin, dropped unread.
const open = new Set<Socket>();
const server: Server = createServer((_request, response) => {
  response.writeHead(200, { "cache-control": "max-age=600" }); // chunked: no declared length
  let sent = 0;
  const more = () => {
    while (sent < 48) {
      sent++;
      if (!response.write(Buffer.alloc(64 * 1024, 97))) return void response.once("drain", more);
    }
    response.end();
  };
  more();
});
server.on("connection", (socket) => {
  open.add(socket);
  socket.once("close", () => open.delete(socket));
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const big = new CachedSession({ backend: new MemoryBackend({ maxEntrySize: 1024 * 1024 }) });
const sockets: number[] = [];
let serial = 0;
for (let round = 0; round < 3; round++) {
  for (let i = 0; i < 10; i++) await big.fetch(`${origin}/big/${serial++}`);
  await collect();
  sockets.push(open.size);
}
await big.close();
for (const socket of open) socket.destroy();
server.close();
console.log(JSON.stringify({ listeners, sockets }));
process.exit(0);
