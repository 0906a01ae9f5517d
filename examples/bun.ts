/**
 * `@x/http-cache` on Bun: responses cached in a SQLite file (Bun's built-in SQLite). A local
 * origin on 127.0.0.1 (`Bun.serve`) stands in for the API you call.
 *
 *     bunx jsr add @x/http-cache
 *     bun examples/bun.ts
 *
 * In your project the imports read `from "@x/http-cache"` and `from "@x/http-cache/sqlite"`;
 * here they point at this repository's sources.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CachedSession } from "../mod.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";

/** The part of Bun's global that this example uses (the types come with Bun, not with Deno). */
declare const Bun: {
  serve(options: { hostname: string; port: number; fetch(request: Request): Response }): {
    port: number;
    stop(): Promise<void>;
  };
};

let originRequests = 0;
const origin = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch() {
    originRequests++;
    return Response.json({ hello: "world" }, { headers: { "cache-control": "max-age=60" } });
  },
});
const url = `http://127.0.0.1:${origin.port}/greeting`;
const dir = mkdtempSync(join(tmpdir(), "http_cache_example_"));

const session = new CachedSession({ backend: new SQLiteBackend({ path: join(dir, "http_cache.db") }) });
try {
  for (const label of ["1st fetch", "2nd fetch"]) {
    const response = await session.fetch(url);
    await response.json();
    console.log(`${label}: ${response.fromCache ? "hit" : "miss"} (origin requests: ${originRequests})`);
  }
} finally {
  await session.close();
  await origin.stop();
  rmSync(dir, { recursive: true, force: true });
}
