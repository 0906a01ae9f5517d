/**
 * `@x/http-cache` on Node (22.13 or later): `cachedFetch` is a drop-in `fetch` that keeps its
 * responses in a SQLite file (Node's built-in `node:sqlite`). A local origin on 127.0.0.1 stands
 * in for the API you call.
 *
 *     npx jsr add @x/http-cache
 *     node examples/node.mjs
 *
 * In your project the imports read `from "@x/http-cache"` and `from "@x/http-cache/sqlite"`;
 * here they point at this repository's sources (Node 22.18+ runs TypeScript as it is).
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cachedFetch } from "../mod.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";

let originRequests = 0;
const origin = createServer((_request, response) => {
  originRequests++;
  response.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" });
  response.end(JSON.stringify({ hello: "world" }));
});
await new Promise((resolve) => origin.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${origin.address().port}/greeting`;
const dir = mkdtempSync(join(tmpdir(), "http_cache_example_"));

const fetch = cachedFetch({ backend: new SQLiteBackend({ path: join(dir, "http_cache.db") }) });
try {
  for (const label of ["1st fetch", "2nd fetch"]) {
    const response = await fetch(url);
    await response.json();
    console.log(`${label}: ${response.fromCache ? "hit" : "miss"} (origin requests: ${originRequests})`);
  }
} finally {
  await fetch.session.close();
  // Also the connection fetch keeps alive, so the process can exit at once.
  origin.closeAllConnections();
  origin.close();
  rmSync(dir, { recursive: true, force: true });
}
