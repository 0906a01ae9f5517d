/**
 * The Deno KV backend, third pass: a KV Connect database (`@deno/kv` on Node and Bun) that does
 * not answer, and one reached through an installed cache.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import process from "node:process";
import { CachedSession, installCache, uninstallCache } from "../mod.ts";
import { DenoKVBackend, DenoKVStorage, type KvLike } from "../backends/deno_kv.ts";
import { loopback, openKv, within } from "./_fixtures.ts";
import { reply } from "./_origin.ts";
import { runsOn, RUNTIME } from "./_runtime.ts";
import { silentServer } from "./_servers.ts";

const KiB = 1024;

/** Skips a test on Deno, whose `Deno.openKv` reads the access token with a permission the tests lack. */
function runsOnNodeOrBun(why: string): { ignore: boolean } {
  return runsOn(RUNTIME === "deno" ? "node" : RUNTIME, why);
}

/** Runs `body` with the KV Connect access token set, as `@deno/kv` requires. */
async function withAccessToken(body: () => Promise<void>): Promise<void> {
  const before = process.env.DENO_KV_ACCESS_TOKEN;
  process.env.DENO_KV_ACCESS_TOKEN = "kv3-hunt-token";
  try {
    await body();
  } finally {
    if (before === undefined) delete process.env.DENO_KV_ACCESS_TOKEN;
    else process.env.DENO_KV_ACCESS_TOKEN = before;
  }
}

/** KV Connect's database metadata (protocol 3), naming `url` as its one endpoint. */
function metadata(url: string): string {
  return JSON.stringify({
    version: 3,
    databaseId: "00000000-0000-4000-8000-000000000205",
    endpoints: [{ url, consistency: "strong" }],
    token: "kv3-hunt-endpoint-token",
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  });
}

// Was: `@deno/kv` times none of its requests, so on Node and Bun a KV Connect server that accepts
// and does not answer (a stalled proxy, a partition) held every call of the storage for good: a
// session's fetch never settled, nor did its close() (on Deno, Deno.openKv gave up after 30 s).
Deno.test({
  name:
    "deno-kv: every call to a KV Connect server that does not answer fails at the time limit, and close() returns",
  ...runsOnNodeOrBun("@deno/kv's KV Connect client"),
  fn: () =>
    withAccessToken(async () => {
      const silent = await silentServer();
      // A server that opens the database, then answers no read or commit.
      const stalled = await loopback((request, response) => {
        if (request.url === "/") {
          response.writeHead(200, { "content-type": "application/json" }).end(metadata(stalled.url));
        }
      });
      try {
        for (const path of [silent.url, stalled.url]) {
          const storage = new DenoKVStorage({ path, timeout: 200 });
          const calls: [string, () => Promise<unknown>][] = [
            ["get", () => storage.get("k")],
            ["set", () => storage.set("k", new Uint8Array(10), Date.now() + 60_000)],
            ["chunked set", () => storage.set("k", new Uint8Array(200 * KiB), Date.now() + 60_000)],
            ["delete", () => storage.delete(["k"])],
            ["keys", () => Array.fromAsync(storage.keys())],
            ["clear", () => storage.clear()],
          ];
          for (const [label, call] of calls) {
            await rejects(within(3_000, call()), { name: "TimeoutError" }, `${label} on ${path}`);
          }
          await within(1_000, storage.close());
        }
        const errors: string[] = [];
        const session = new CachedSession({
          backend: new DenoKVBackend({ path: silent.url, timeout: 200 }),
          fetch: () => Promise.resolve(reply("from the origin", { "cache-control": "max-age=60" })),
          onError: (error) => void errors.push(String(error)),
        });
        const response = await within(5_000, session.fetch("http://127.0.0.1/page"));
        equal(await within(5_000, response.text()), "from the origin");
        await within(10_000, session.close());
        ok(errors.some((error) => error.includes("no answer from Deno KV within 200 ms")), errors.join("\n"));
      } finally {
        await Promise.all([silent.close(), stalled.close()]);
      }
    }),
});

// Was: `@deno/kv` sent KV Connect requests with the global fetch at the time the database was
// opened, the cache itself once installed: the `POST` that opens the database invalidated its URL,
// a delete that waited for the database that very request was opening. The first fetch hung for
// good (and, once opened, each read of the storage would have sent a `POST` that deleted again).
Deno.test({
  name: "deno-kv: an installed cache over KV Connect sends the database's requests past itself",
  ...runsOnNodeOrBun("@deno/kv's KV Connect client"),
  fn: () =>
    withAccessToken(async () => {
      const server = await loopback((request, response) => {
        if (request.url === "/") {
          response.writeHead(200, { "content-type": "application/json" }).end(metadata(server.url));
        } else if (request.url === "/page") {
          response.writeHead(200, { "cache-control": "max-age=60" }).end("from the origin");
        } else response.writeHead(400).end("no such database"); // reads and commits fail at once
      });
      const errors: string[] = [];
      const session = installCache({
        backend: new DenoKVBackend({ path: server.url, timeout: 60_000 }),
        onError: (error) => void errors.push(String(error)),
      });
      try {
        const response = await within(5_000, fetch(`${server.url}/page`));
        equal(await within(5_000, response.text()), "from the origin");
        equal(server.hitsOf("/page"), 1);
        ok(errors.every((error) => error.includes("400")), errors.join("\n"));
      } finally {
        uninstallCache();
        await within(10_000, session.close());
        await server.close();
      }
    }),
});

// The same for a database given as `kv` (`Deno.openKv(url)` or `@deno/kv`'s, which may be remote):
// here one whose reads stop answering, while its commits still go through.
Deno.test("deno-kv: a read of a database given as kv that does not answer fails at the time limit", async () => {
  const kv = await openKv(":memory:");
  const stalled: KvLike = {
    get: () => new Promise(() => {}),
    list: (selector, options) => kv.list(selector, options),
    atomic: () => kv.atomic(),
    close: () => {},
  };
  const storage = new DenoKVStorage({ kv: stalled, timeout: 100 });
  try {
    await rejects(within(3_000, storage.get("k")), { name: "TimeoutError" });
    deepEqual(await Array.fromAsync(storage.keys()), []);
  } finally {
    await storage.close();
    kv.close();
  }
});
