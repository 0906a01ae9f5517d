/**
 * `@x/http-cache` on Deno: responses cached in a SQLite file (Deno's built-in `node:sqlite`),
 * kept across sessions. A local origin on 127.0.0.1 stands in for the API you call.
 *
 *     deno add jsr:@x/http-cache
 *     deno run --allow-net=127.0.0.1 --allow-read --allow-write examples/deno.ts
 *
 * @module
 */

import { CachedSession } from "@x/http-cache";
import { SQLiteBackend } from "@x/http-cache/sqlite";

let originRequests = 0;
const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
  originRequests++;
  return Response.json({ hello: "world" }, { headers: { "cache-control": "max-age=60" } });
});
const url = `http://127.0.0.1:${origin.addr.port}/greeting`;
const dir = await Deno.makeTempDir({ prefix: "http_cache_example_" });
const path = `${dir}/http_cache.db`;

try {
  const session = new CachedSession({ backend: new SQLiteBackend({ path }) });
  for (const label of ["1st fetch", "2nd fetch"]) {
    const response = await session.fetch(url);
    await response.json();
    console.log(`${label}: ${response.fromCache ? "hit" : "miss"} (origin requests: ${originRequests})`);
  }
  await session.close();

  // A new session on the same file: the entry outlives the process that stored it.
  await using again = new CachedSession({ backend: new SQLiteBackend({ path }) });
  const response = await again.fetch(url);
  await response.body?.cancel();
  console.log(`new session: ${response.fromCache ? "hit" : "miss"} (origin requests: ${originRequests})`);
} finally {
  await origin.shutdown();
  await Deno.remove(dir, { recursive: true });
}
