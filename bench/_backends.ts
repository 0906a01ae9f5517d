/**
 * The backends under test, opened the same way for every section: bounds wide enough for the
 * biggest store, files in a private temporary directory, services from `REDIS_URL` and
 * `MONGODB_URL` (exported by `scripts/services.sh`, which `bench/run.sh` sources). A backend that
 * cannot run here comes back with the reason, printed in the table instead of a number.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CacheBackend } from "../backends/base.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { env } from "./_measure.ts";

/** A backend name, as the tables show it. */
export type BackendName = "memory" | "sqlite" | "redis" | "mongodb" | "deno-kv";

/** Every backend, in table order. */
export const BACKENDS: readonly BackendName[] = ["memory", "sqlite", "redis", "mongodb", "deno-kv"];

/** An open backend, or why there is none. */
export type Opened =
  | { backend: CacheBackend; close(): Promise<void>; note?: string | undefined; skip?: undefined }
  | { skip: string; backend?: undefined };

let directory: string | undefined;

/** A private temporary directory for database files, removed by {@linkcode cleanup}. */
export function scratch(): string {
  directory ??= mkdtempSync(join(tmpdir(), "http-cache-bench-"));
  return directory;
}

/** Removes the temporary directory. */
export function cleanup(): void {
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
}

let serial = 0;

/**
 * Opens a fresh, empty backend.
 *
 * @param name Which one.
 * @returns The backend, or the reason it cannot run.
 */
export async function openBackend(name: BackendName): Promise<Opened> {
  const id = `${Date.now().toString(36)}-${++serial}`;
  switch (name) {
    case "memory": {
      // Wide bounds: the scaling section holds a million entries.
      const backend = new MemoryBackend({ maxEntries: 4_000_000, maxBytes: 8 * 1024 ** 3 });
      return { backend, close: () => backend.close() };
    }
    case "sqlite": {
      const backend = new SQLiteBackend({ path: join(scratch(), `cache-${id}.db`) });
      return { backend, close: () => backend.close() };
    }
    case "redis": {
      const url = env("REDIS_URL");
      if (!url) return { skip: "REDIS_URL is not set (run `deno task bench`: it starts redis-server)" };
      const { RedisBackend } = await import("../backends/redis.ts");
      const backend = new RedisBackend({ url, prefix: `http-cache-bench:${id}:` });
      return {
        backend,
        close: async () => {
          await backend.clear();
          await backend.close();
        },
      };
    }
    case "mongodb": {
      const url = env("MONGODB_URL");
      if (!url) {
        return { skip: "MONGODB_URL is not set (run `deno task bench`: it starts a MongoDB stand-in)" };
      }
      const { MongoDBBackend } = await import("../backends/mongodb.ts");
      const backend = new MongoDBBackend({ url, collection: `bench_${id.replace(/-/g, "_")}` });
      return {
        backend,
        note: mongoNote(),
        close: async () => {
          await backend.clear();
          await backend.close();
        },
      };
    }
    case "deno-kv": {
      const deno = (globalThis as { Deno?: { openKv?: unknown } }).Deno;
      if (typeof deno?.openKv !== "function") {
        return { skip: "Deno KV runs on Deno with --unstable-kv (the Node package is a different engine)" };
      }
      const { DenoKVBackend } = await import("../backends/deno_kv.ts");
      const backend = new DenoKVBackend({ path: join(scratch(), `kv-${id}.sqlite3`) });
      return { backend, close: () => backend.close() };
    }
  }
}

function mongoNote(): string | undefined {
  // bench/run.sh sets this when scripts/services.sh started the stand-in rather than a real mongod.
  return env("BENCH_MONGODB_STANDIN") === "1"
    ? "MongoDB here is the wire-protocol stand-in of scripts/services.sh, not mongod: its figures say little"
    : undefined;
}
