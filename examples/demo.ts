/**
 * The demo from the README: a local origin on 127.0.0.1 that takes 200 ms per answer, fetched
 * three times through a cache in a SQLite file (created in a temporary directory), then once
 * more after its `max-age` has passed, to show a revalidation.
 *
 *     npm install && npm run demo            # or: deno task demo
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CachedSession } from "../mod.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";

const ORIGIN_DELAY_MS = 200;
// Two seconds: a stored response's age includes the time its request took (RFC 9111 §4.2.3), so
// a first request slowed down by a busy machine must still leave the next two fetches fresh.
const MAX_AGE_SECONDS = 2;

// The origin: slow, cacheable for two seconds, with an ETag so it can be revalidated.
let originRequests = 0;
const server = createServer((request, response) => {
  originRequests++;
  const etag = '"v1"';
  if (request.headers["if-none-match"] === etag) {
    response.writeHead(304, { etag, "cache-control": `max-age=${MAX_AGE_SECONDS}` }).end();
    return;
  }
  setTimeout(() => {
    response.writeHead(200, {
      "content-type": "application/json",
      "cache-control": `max-age=${MAX_AGE_SECONDS}`,
      etag,
    });
    response.end(JSON.stringify({ message: "hello from the origin", at: new Date().toISOString() }));
  }, ORIGIN_DELAY_MS);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/greeting`;

const dir = mkdtempSync(join(tmpdir(), "http-cache-demo-"));
const session = new CachedSession({ backend: new SQLiteBackend({ path: join(dir, "http_cache.db") }) });

async function show(label: string): Promise<void> {
  const start = performance.now();
  const response = await session.fetch(url);
  const body = await response.json();
  const ms = (performance.now() - start).toFixed(1).padStart(6);
  const outcome = response.fromCache ? (response.revalidated ? "revalidated (304)" : "hit") : "miss";
  console.log(`${label.padEnd(28)} ${outcome.padEnd(18)} ${ms} ms   ${body.message}`);
}

console.log(`origin: ${url} (answers after ${ORIGIN_DELAY_MS} ms, max-age=${MAX_AGE_SECONDS})\n`);
try {
  await show("1st fetch");
  await show("2nd fetch");
  await show("3rd fetch");
  await new Promise((resolve) => setTimeout(resolve, MAX_AGE_SECONDS * 1000 + 100));
  await show("after max-age");
  console.log(`\norigin requests: ${originRequests} (of 4 fetches)`);
} finally {
  await session.close();
  // Also the connection fetch keeps alive: left open, the process would wait for it to idle out
  // (90 s in Deno's fetch) before it could exit.
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
