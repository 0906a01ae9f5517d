/**
 * Outages of the backend, a second pass (helper-154): remote stores killed while a large record is
 * written or read, and stores that accept connections and never answer, under a whole session.
 * The hunt found no new fault here; these tests hold what it checked. Run against private
 * `redis-server` and MongoDB stand-in processes (each stopped by its PID after) and a loopback
 * origin.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { CacheBackend, type Storage } from "../backends/base.ts";
import { MongoDBStorage } from "../backends/mongodb.ts";
import { RedisStorage } from "../backends/redis.ts";
import { BackendError, CachedSession } from "../mod.ts";
import { delay, type Loopback, loopback, patterned, Switched, within } from "./_fixtures.ts";
import {
  mongoServerMissing,
  privateMongo,
  privateRedis,
  type PrivateServer,
  redisServerMissing,
} from "./_servers.ts";

/** Backend calls give up after this long here (the default is 2,000 ms). */
const TIMEOUT = 500;

/** A body large enough that the write and the read of its record take a while: 4 MiB. */
const BIG = patterned(4 * 1024 * 1024, 154);

/** The remote stores' time limit in the kill test: their default, 2 s (a first large write to a stand-in just started may take a while). */
const KILL_TIMEOUT = 2000;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An origin whose every answer is fresh for ten minutes: BIG under /big, else a short text. */
function origin(): Promise<Loopback> {
  return loopback((request, response) => {
    const big = request.url === "/big";
    const body = big ? BIG : new TextEncoder().encode(`response to ${request.url}`);
    response.writeHead(200, { "cache-control": "max-age=600", "content-length": String(body.length) }).end(
      body,
    );
  });
}

const noRedis = await redisServerMissing();
const noMongo = await mongoServerMissing();

/** The storage of each remote backend over a server's URL. */
const REMOTES: {
  name: string;
  missing: string | undefined;
  server: () => Promise<PrivateServer>;
  storage: (url: string) => Storage;
}[] = [
  {
    name: "redis",
    missing: noRedis,
    server: privateRedis,
    storage: (url) => new RedisStorage({ url, timeout: KILL_TIMEOUT }),
  },
  {
    name: "mongodb",
    missing: noMongo,
    server: privateMongo,
    storage: (url) => new MongoDBStorage({ url, db: "outages2", timeout: KILL_TIMEOUT }),
  },
];

for (const remote of REMOTES) {
  // A server killed at one moment or another of a large response's read and write: whatever the
  // moment, the caller gets the whole body (from the origin or the store, never a part of one),
  // nothing rejects, and once the server is back the response is stored and served whole again.
  Deno.test({
    name:
      `outages2: a ${remote.name} killed while a large response is read or written leaves every body whole`,
    ignore: remote.missing !== undefined,
    async fn() {
      const server = await remote.server();
      const o = await origin();
      const errors: unknown[] = [];
      const session = new CachedSession({
        backend: new CacheBackend(remote.storage(server.url)),
        onError: (error) => void errors.push(error),
      });
      const get = async () => {
        const response = await within(20_000, session.fetch(`${o.url}/big`));
        const body = new Uint8Array(await within(20_000, response.arrayBuffer()));
        ok(sameBytes(body, BIG), `a body of ${body.length} bytes, not the ${BIG.length} sent`);
        return response.fromCache;
      };
      try {
        for (const killAfter of [0, 20, 60]) {
          const killed = delay(killAfter).then(() => server.stop());
          await get();
          await killed;
          await server.start();
          // (Reads or writes may rest a while after the failures, 10 s at most between probes.)
          let served = false;
          for (let attempt = 0; attempt < 120 && !served; attempt++) {
            served = await get();
            if (!served) await delay(250);
          }
          ok(served, `stored and served again once ${remote.name} was back (killed after ${killAfter} ms)`);
        }
        ok(
          errors.every((error) => error instanceof BackendError),
          String(errors.find((e) => !(e instanceof BackendError))),
        );
      } finally {
        await session.close();
        await o.close();
        await server.stop();
      }
    },
  });
}

/** A TCP server that takes connections and never answers on them. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const SILENT: { name: string; storage: (port: number) => Storage }[] = [
  {
    name: "Redis",
    storage: (port) => new RedisStorage({ url: `redis://127.0.0.1:${port}`, timeout: TIMEOUT }),
  },
  {
    name: "MongoDB",
    storage: (port) =>
      new MongoDBStorage({ url: `mongodb://127.0.0.1:${port}/?directConnection=true`, timeout: TIMEOUT }),
  },
];

for (const { name, storage } of SILENT) {
  // Something that takes the connection and never answers (a wrong port, a proxy whose upstream is
  // gone): every request is answered by the origin; three of them pay the timeouts, the others
  // reach the store not at all, and onError hears of three reads and two writes.
  Deno.test(`outages2: a ${name} that takes connections and never answers costs three requests, then none`, async () => {
    const hole = await blackHole();
    const o = await origin();
    const switched = new Switched(storage(hole.port));
    const operations: string[] = [];
    const session = new CachedSession({
      backend: new CacheBackend(switched),
      onError: (error, context) => {
        ok(error instanceof BackendError, String(error));
        operations.push(context.operation);
      },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const response = await within(10_000, session.fetch(`${o.url}/${i}`));
        deepEqual([response.fromCache, await response.text()], [false, `response to /${i}`]);
      }
      deepEqual(operations, ["read", "write", "read", "write", "read"]);
      const calls = switched.calls;
      for (let i = 3; i < 8; i++) {
        const response = await within(10_000, session.fetch(`${o.url}/${i}`));
        deepEqual([response.fromCache, await response.text()], [false, `response to /${i}`]);
      }
      equal(switched.calls, calls, "no request reached the silent store while reads rest");
      equal(operations.length, 5, "nothing more was reported");
    } finally {
      await session.close();
      await o.close();
      await hole.close();
    }
  });
}
