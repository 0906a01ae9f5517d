/**
 * Several sessions and several processes over one store: a process killed in the middle of its
 * writes, an invalidation made by another process, a SQLite lock another process holds, bounds
 * kept with several writers, and sessions of different kinds over one store. The other process is
 * a child of the runtime that runs the tests (`tests/_sharing_child.ts`), killed by its own handle.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import type { CacheBackend } from "../backends/base.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { CachedSession } from "../mod.ts";
import { isBackendError } from "../src/errors.ts";
import type { ChildTask, StoreSpec } from "./_sharing_child.ts";
import { delay, type Loopback, loopback, patterned, within } from "./_fixtures.ts";
import { origin as scriptedOrigin, reply } from "./_origin.ts";
import { type Child, RUNTIME, start, tempDir } from "./_runtime.ts";
import { serviceUrl } from "./_services.ts";

const dir = tempDir("http_cache_sharing_");
let files = 0;
const CHILD = fileURLToPath(new URL("./_sharing_child.ts", import.meta.url));

/** Starts another process over the store, running `task`. */
function child(task: ChildTask): Child {
  const arg = JSON.stringify(task);
  if (RUNTIME === "deno") return start("deno", ["run", "-A", "--unstable-kv", CHILD, arg], { capture: true });
  const args = RUNTIME === "bun" ? [CHILD, arg] : [...process.execArgv, CHILD, arg];
  return start(process.execPath, args, { capture: true });
}

/** Waits for a child to exit and checks that it ended well. */
async function finished(process: Child): Promise<void> {
  const { code, stdout, stderr } = await within(60_000, process.exited);
  equal(code, 0, `the child failed:\n${stdout}\n${stderr}`);
}

/** Waits (bounded) until a file exists, or the child has exited without writing it. */
async function markerOf(path: string, process: Child): Promise<void> {
  let exited = false;
  void process.exited.then(() => exited = true);
  await within(
    60_000,
    (async () => {
      while (!existsSync(path)) {
        if (exited) {
          throw new Error(
            `the child exited before ${path} was written: ${await process.exited.then((o) => o.stderr)}`,
          );
        }
        await delay(5);
      }
    })(),
  );
}

const redis = serviceUrl("REDIS_URL");
const mongo = serviceUrl("MONGODB_URL");

/** A persistent store that two processes can open, and how the test opens it itself. */
interface SharedStore {
  name: string;
  skip?: string | undefined;
  spec(): StoreSpec;
  open(spec: StoreSpec): Promise<CacheBackend>;
}

const STORES: SharedStore[] = [
  {
    name: "sqlite",
    spec: () => ({ kind: "sqlite", path: join(dir, `shared_${files++}.db`) }),
    open: (spec) => Promise.resolve(new SQLiteBackend({ path: (spec as { path: string }).path })),
  },
  {
    name: "deno-kv",
    spec: () => ({ kind: "deno-kv", path: join(dir, `shared_${files++}.kv`) }),
    async open(spec) {
      const { DenoKVBackend } = await import("../backends/deno_kv.ts");
      return new DenoKVBackend({ path: (spec as { path: string }).path });
    },
  },
  {
    name: "redis",
    skip: redis.skip,
    spec: () => ({ kind: "redis", url: redis.url!, prefix: `sharing-${crypto.randomUUID()}:v1:` }),
    async open(spec) {
      const { RedisBackend } = await import("../backends/redis.ts");
      const { url, prefix } = spec as { url: string; prefix: string };
      return new RedisBackend({ url, prefix });
    },
  },
  {
    name: "mongodb",
    skip: mongo.skip,
    spec: () => ({
      kind: "mongodb",
      url: mongo.url!,
      db: "http_cache_test",
      collection: `sharing_${crypto.randomUUID().slice(0, 8)}_v1`,
    }),
    async open(spec) {
      const { MongoDBBackend } = await import("../backends/mongodb.ts");
      const { url, db, collection } = spec as { url: string; db: string; collection: string };
      return new MongoDBBackend({ url, db, collection });
    },
  },
];

const BODY = 200 * 1024;
const seedOf = (path: string) => path.charCodeAt(1);

/** An origin whose every path has a body of its own, fresh for 10 minutes. */
function bodies(headers: Record<string, string> = {}): Promise<Loopback> {
  return loopback((request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    response.writeHead(200, { "cache-control": "max-age=600", ...headers });
    response.end(patterned(BODY, seedOf(path)));
  });
}

for (const store of STORES) {
  Deno.test({
    name:
      `${store.name}: a process killed in the middle of its writes leaves records that another process serves whole, or not at all`,
    ignore: store.skip !== undefined,
    async fn() {
      const origin = await bodies();
      const spec = store.spec();
      const marker = join(dir, `marker_${files++}`);
      const writer = child({
        store: spec,
        mode: "fetch",
        loop: true,
        urls: [`${origin.url}/a`, `${origin.url}/b`, `${origin.url}/c`],
        marker,
      });
      const backend = await store.open(spec);
      const errors: unknown[] = [];
      const session = new CachedSession({ backend, onError: (error) => errors.push(error) });
      try {
        await markerOf(marker, writer);
        // Killed at some point of a write (a few dozen have been made by then).
        const hits = origin.hits;
        await within(
          60_000,
          (async () => {
            while (origin.hits < hits + 12) await delay(2);
          })(),
        );
        writer.kill("SIGKILL");
        await writer.exited;
        let served = 0;
        for await (const entry of backend.responses()) {
          const path = new URL(entry.url).pathname;
          deepEqual(new Uint8Array(await entry.arrayBuffer()), patterned(BODY, seedOf(path)), entry.url);
          served++;
        }
        ok(served >= 3, `only ${served} responses were stored`);
        const rounds = Math.ceil(origin.hits / 3) + 1;
        for (let round = 0; round < rounds; round++) {
          for (const path of ["/a", "/b", "/c"]) {
            const response = await session.fetch(`${origin.url}${path}?round=${round}`, {
              cache: "only-if-cached",
            });
            if (response.status === 504) continue;
            deepEqual(new Uint8Array(await response.arrayBuffer()), patterned(BODY, seedOf(path)));
          }
        }
        deepEqual(errors, []);
      } finally {
        writer.kill("SIGKILL");
        await writer.exited;
        await backend.clear().catch(() => {});
        await session.close();
        await origin.close();
      }
    },
  });

  Deno.test({
    name:
      `${store.name}: a POST made by another process is seen at once: neither the URL nor a redirect to it serves what it replaced`,
    ignore: store.skip !== undefined,
    async fn() {
      let version = 0;
      const origin = await loopback((request, response) => {
        const path = new URL(request.url ?? "/", "http://x").pathname;
        if (path === "/moved") {
          response.writeHead(301, { location: "/target", "cache-control": "max-age=600" });
          response.end();
          return;
        }
        if (request.method === "POST") version++;
        response.writeHead(200, { "cache-control": "max-age=600" });
        response.end(`${path} v${version}`);
      });
      const spec = store.spec();
      const backend = await store.open(spec);
      const session = new CachedSession({ backend, onError: () => {} });
      try {
        equal(await (await session.fetch(`${origin.url}/target`)).text(), "/target v0");
        equal(await (await session.fetch(`${origin.url}/moved`)).text(), "/target v0");
        equal((await session.fetch(`${origin.url}/moved`)).fromCache, true);
        await finished(
          child({ store: spec, mode: "fetch", urls: [`${origin.url}/target`], init: { method: "POST" } }),
        );
        const target = await session.fetch(`${origin.url}/target`);
        equal(await target.text(), "/target v1");
        equal(target.fromCache, false);
        // (The session followed the redirect step by step: the 301 stands, and leads to the new one.)
        equal(await (await session.fetch(`${origin.url}/moved`)).text(), "/target v1");
      } finally {
        await backend.clear().catch(() => {});
        await session.close();
        await origin.close();
      }
    },
  });

  Deno.test({
    name:
      `${store.name}: a private session in another process that keeps cookies shares neither private responses nor cookies`,
    ignore: store.skip !== undefined,
    async fn() {
      const origin = await loopback((request, response) => {
        const path = new URL(request.url ?? "/", "http://x").pathname;
        response.writeHead(200, {
          "cache-control": path === "/private" ? "private, max-age=600" : "public, max-age=600",
          "set-cookie": `session=${path}`,
        });
        response.end(path);
      });
      const spec = store.spec();
      const urls = [`${origin.url}/private`, `${origin.url}/public`];
      await finished(child({ store: spec, mode: "fetch", urls, session: { storeSetCookie: true } }));
      const backend = await store.open(spec);
      const shared = new CachedSession({ backend, shared: true, onError: () => {} });
      const plain = new CachedSession({ backend, onError: () => {} });
      try {
        equal(origin.hits, 2);
        // The shared session never takes a private session's entries.
        for (const url of urls) equal((await shared.fetch(url)).fromCache, false, url);
        // A private one without storeSetCookie does, without their cookies.
        for (const url of urls) {
          const response = await plain.fetch(url);
          equal(response.fromCache, true, url);
          equal(response.headers.get("set-cookie"), null, url);
          await response.text();
        }
      } finally {
        await backend.clear().catch(() => {});
        await shared.close();
        await plain.close();
        await origin.close();
      }
    },
  });
}

Deno.test("sqlite: while another process holds the write lock, hits are served, misses go through whole, and the failed write is reported", async () => {
  const origin = await bodies();
  const path = join(dir, `locked_${files++}.db`);
  const errors: { error: unknown; operation: string }[] = [];
  const session = new CachedSession({
    backend: new SQLiteBackend({ path, busyTimeout: 300 }),
    onError: (error, context) => errors.push({ error, operation: context.operation }),
  });
  const marker = join(dir, `marker_${files++}`);
  let holder: Child | undefined;
  try {
    await (await session.fetch(`${origin.url}/a`)).arrayBuffer();
    holder = child({ store: { kind: "sqlite", path }, mode: "hold", holdMs: 120_000, marker });
    await markerOf(marker, holder);
    const hit = await within(10_000, session.fetch(`${origin.url}/a`));
    equal(hit.fromCache, true);
    deepEqual(new Uint8Array(await hit.arrayBuffer()), patterned(BODY, seedOf("/a")));
    const miss = await within(10_000, session.fetch(`${origin.url}/b`));
    deepEqual(new Uint8Array(await within(10_000, miss.arrayBuffer())), patterned(BODY, seedOf("/b")));
    ok(
      errors.some(({ error, operation }) => operation === "write" && isBackendError(error)),
      "no write reported",
    );
    // The holder dies with its transaction open: the lock goes with it.
    holder.kill("SIGKILL");
    await holder.exited;
    errors.length = 0;
    await (await session.fetch(`${origin.url}/b`)).arrayBuffer();
    const later = await session.fetch(`${origin.url}/b`);
    equal(later.fromCache, true);
    deepEqual(new Uint8Array(await later.arrayBuffer()), patterned(BODY, seedOf("/b")));
    deepEqual(errors, []);
  } finally {
    holder?.kill("SIGKILL");
    await holder?.exited;
    await session.close();
    await origin.close();
  }
});

Deno.test("sqlite: maxEntries holds with two other processes writing to the file at once", async () => {
  const path = join(dir, `bounded_${files++}.db`);
  const store: StoreSpec = { kind: "sqlite", path, maxEntries: 640 };
  await Promise.all(
    ["x", "y"].map((id) => finished(child({ store, mode: "write", id, count: 1500, size: 100 }))),
  );
  const backend = new SQLiteBackend({ path });
  try {
    const count = await backend.count();
    // Each writer checks once every 1/64 of the bound, and a record may come between two checks.
    ok(count <= 640 + 2 * (10 + 1), `${count} records`);
    ok(count >= 640 - 640 / 16 - 2 * 11, `${count} records`);
  } finally {
    await backend.close();
  }
});

// A POST through a session that ignores `token` deleted only its own form of the URL (without
// the token): another session over the same backend, which keys the token, still served what it
// stored for that very URL before the POST, and stored a response it had asked for before it.
Deno.test("a POST through a session with ignoredParameters invalidates what another session on the backend stored for that URL", async () => {
  let version = 0;
  const scripted = scriptedOrigin((request) => {
    if (request.method === "POST") version++;
    return reply(`v${version}`, { "cache-control": "max-age=600" });
  });
  const backend = new MemoryBackend();
  const ignoring = new CachedSession({ backend, fetch: scripted.fetch, ignoredParameters: ["token"] });
  const keeping = new CachedSession({ backend, fetch: scripted.fetch });
  const url = "http://127.0.0.1/items?token=1";
  try {
    equal(await (await keeping.fetch(url)).text(), "v0");
    equal(await (await ignoring.fetch(url)).text(), "v0");
    equal(await (await ignoring.fetch(url, { method: "POST" })).text(), "v1");
    for (const session of [keeping, ignoring]) {
      const response = await session.fetch(url);
      equal(await response.text(), "v1");
      equal(response.fromCache, false);
    }
  } finally {
    await ignoring.close();
    await keeping.close();
  }
});
