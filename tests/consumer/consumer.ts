/**
 * A throwaway project that uses `@x/http-cache` the way a Node or Bun user gets it from JSR:
 * transpiled ESM with declarations, installed in `node_modules` (see scripts/consumer.sh, which
 * builds the package, installs it here, type-checks this file with `tsc` and runs it).
 *
 *     node consumer.ts                                         # Node 22 or 24, or: bun consumer.ts
 *     node --no-experimental-sqlite consumer.ts --no-sqlite    # a Node without node:sqlite
 *
 * Against an origin on 127.0.0.1 it checks a miss then a hit through `MemoryBackend`, and through
 * `SQLiteBackend` in a file that a second session reads back; that every other entry point loads;
 * and, where `node:sqlite` is missing, that `SQLiteBackend` fails with an error naming the runtime
 * and the alternatives while the request itself still succeeds.
 *
 * @module
 */

import { equal, ok, rejects } from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { CachedSession, MemoryBackend } from "@x/http-cache";
import { SQLiteBackend } from "@x/http-cache/sqlite";

const runtime = process.versions.bun ? `Bun ${process.versions.bun}` : `Node ${process.versions.node}`;

let originRequests = 0;
const server = createServer((_request, response) => {
  originRequests++;
  response.writeHead(200, { "content-type": "text/plain", "cache-control": "max-age=600" });
  response.end(`hello ${originRequests}`);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const dir = mkdtempSync(join(tmpdir(), "http-cache-consumer-"));

/** Fetches `path` with `session`; asserts whether it came from the cache and what it says. */
async function expect(session: CachedSession, path: string, fromCache: boolean, body: string): Promise<void> {
  const response = await session.fetch(`${origin}${path}`);
  equal(response.fromCache, fromCache, `${path}: fromCache`);
  equal(await response.text(), body, `${path}: body`);
}

try {
  if (process.argv.includes("--no-sqlite")) {
    const errors: unknown[] = [];
    const path = join(dir, "cache.db");
    const session = new CachedSession({
      backend: new SQLiteBackend({ path }),
      onError: (error) => void errors.push(error),
    });
    await expect(session, "/sqlite", false, "hello 1"); // the cache fails open: the request works
    await session.close();
    ok(errors.length > 0, "the SQLite failure did not reach onError");
    await rejects(new SQLiteBackend({ path }).count(), (error: Error) => {
      const cause = error.cause instanceof Error ? error.cause : error;
      ok(cause instanceof TypeError, `expected a TypeError, got ${String(cause)}`);
      for (const part of [runtime, "node:sqlite", "Node 22.13", "MemoryBackend"]) {
        ok(cause.message.includes(part), `"${cause.message}" lacks "${part}"`);
      }
      console.log(`consumer: SQLiteBackend on ${runtime} without node:sqlite says: ${cause.message}`);
      return true;
    });
  } else {
    const memory = new CachedSession({ backend: new MemoryBackend() });
    await expect(memory, "/memory", false, "hello 1");
    await expect(memory, "/memory", true, "hello 1");
    await memory.close();

    const path = join(dir, "cache.db");
    const first = new CachedSession({ backend: new SQLiteBackend({ path }) });
    await expect(first, "/sqlite", false, "hello 2");
    await expect(first, "/sqlite", true, "hello 2");
    await first.close();
    const second = new CachedSession({ backend: new SQLiteBackend({ path }) });
    await expect(second, "/sqlite", true, "hello 2");
    await second.close();
    equal(originRequests, 2);

    // Every other entry point resolves through the exports map, with its driver installed.
    const { RedisBackend } = await import("@x/http-cache/redis");
    const { MongoDBBackend } = await import("@x/http-cache/mongodb");
    const { DenoKVBackend } = await import("@x/http-cache/deno-kv");
    const { MemoryBackend: Memory } = await import("@x/http-cache/memory");
    for (const backend of [RedisBackend, MongoDBBackend, DenoKVBackend, Memory]) {
      equal(typeof backend, "function", `${backend.name} is not a class`);
    }
    console.log(`consumer: memory and SQLite round trips and every entry point pass on ${runtime}`);
  }
} finally {
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
