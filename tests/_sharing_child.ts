// Another process over the same store, for tests/sharing_hunt_test.ts: run by the runtime that
// runs the tests, with one JSON argument saying which store, what to do and with which options.
import { writeFileSync } from "node:fs";
import process from "node:process";
import type { CacheBackend } from "../backends/base.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";

/** Which store the child opens. */
export type StoreSpec =
  | { kind: "sqlite"; path: string; maxEntries?: number }
  | { kind: "deno-kv"; path: string }
  | { kind: "redis"; url: string; prefix: string }
  | { kind: "mongodb"; url: string; db: string; collection: string };

/** What the child does. */
export interface ChildTask {
  store: StoreSpec;
  /**
   * `fetch`: fetches `urls` through a session (with `loop`, again and again, each round with a
   *   query of its own), reading each body;
   * `hold`: holds the SQLite file's write lock for `holdMs`, then commits;
   * `write`: writes `count` records of `size` bytes straight into the storage.
   */
  mode: "fetch" | "hold" | "write";
  urls?: string[];
  init?: RequestInit;
  loop?: boolean;
  session?: Pick<CachedSessionOptions, "shared" | "storeSetCookie" | "ignoredParameters" | "matchHeaders">;
  holdMs?: number;
  count?: number;
  size?: number;
  id?: string;
  /** A file written once the work has begun (the lock is held, the first response stored). */
  marker?: string;
}

async function open(store: StoreSpec): Promise<CacheBackend> {
  switch (store.kind) {
    case "sqlite": {
      const { SQLiteBackend } = await import("../backends/sqlite.ts");
      return new SQLiteBackend({
        path: store.path,
        ...(store.maxEntries ? { maxEntries: store.maxEntries } : {}),
      });
    }
    case "deno-kv": {
      const { DenoKVBackend } = await import("../backends/deno_kv.ts");
      return new DenoKVBackend({ path: store.path });
    }
    case "redis": {
      const { RedisBackend } = await import("../backends/redis.ts");
      return new RedisBackend({ url: store.url, prefix: store.prefix });
    }
    case "mongodb": {
      const { MongoDBBackend } = await import("../backends/mongodb.ts");
      return new MongoDBBackend({ url: store.url, db: store.db, collection: store.collection });
    }
  }
}

const task = JSON.parse(process.argv[process.argv.length - 1]!) as ChildTask;
if (task.mode === "hold") {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync((task.store as { path: string }).path);
  db.exec("BEGIN IMMEDIATE");
  db.exec("CREATE TABLE IF NOT EXISTS other (x)");
  db.exec("INSERT INTO other VALUES (1)");
  writeFileSync(task.marker!, "held");
  await new Promise((resolve) => setTimeout(resolve, task.holdMs ?? 1000));
  db.exec("COMMIT");
  db.close();
} else if (task.mode === "write") {
  const backend = await open(task.store);
  for (let i = 0; i < task.count!; i++) {
    await backend.storage.set(`${task.id}-${i}`, new Uint8Array(task.size!).fill(1), Infinity);
  }
  await backend.close();
} else {
  const backend = await open(task.store);
  const session = new CachedSession({ backend, onError: () => {}, ...task.session });
  let marked = false;
  let round = 0;
  do {
    for (const url of task.urls!) {
      // Looping, each round asks for new URLs: every response is written.
      const response = await session.fetch(task.loop ? `${url}?round=${round}` : url, task.init);
      await response.arrayBuffer();
      if (!marked && task.marker !== undefined) writeFileSync(task.marker, "stored");
      marked = true;
    }
    round++;
  } while (task.loop);
  await session.close();
}
process.exit(0);
