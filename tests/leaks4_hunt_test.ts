/**
 * Resources held past their use, a fourth pass: what keeps a process alive once its work is done,
 * its session closed or not. Process exit is what it is about, so each scenario runs in a process
 * of its own, started from code given on its command line.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { type Loopback, loopback, within } from "./_fixtures.ts";
import { runCollecting, runsOn, RUNTIME } from "./_runtime.ts";
import { silentServer } from "./_servers.ts";

/** Skips a test on Deno, whose own `Deno.openKv` sends KV Connect requests the cache cannot end. */
function runsOnNodeOrBun(why: string): { ignore: boolean } {
  return runsOn(RUNTIME === "deno" ? "node" : RUNTIME, why);
}

/** A KV Connect server that opens the database (protocol 3), then answers no read or commit. */
function stalledKvConnect(): Promise<Loopback> {
  const server: Promise<Loopback> = loopback(async (request, response) => {
    if (request.url !== "/") return; // a read or a commit: no answer
    const { url } = await server;
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
      version: 3,
      databaseId: "00000000-0000-4000-8000-000000000213",
      endpoints: [{ url, consistency: "strong" }],
      token: "leaks4-hunt-endpoint-token",
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    }));
  });
  return server;
}

/** A KV Connect server that is down for maintenance: 503 to every request, which `@deno/kv` retries. */
function unavailableKvConnect(): Promise<Loopback> {
  return loopback((_request, response) => void response.writeHead(503).end("down for maintenance"));
}

/**
 * A session over the KV Connect database at `PATH` (timed by `TIMEOUT`): one fetch, then, if
 * `CLOSE`, close(); prints the response's text.
 */
const KV_CONNECT_SESSION = `
process.env.DENO_KV_ACCESS_TOKEN = "leaks4-hunt-token";
const { CachedSession } = await import(ROOT + "mod.ts");
const { DenoKVBackend } = await import(ROOT + "backends/deno_kv.ts");
const session = new CachedSession({
  backend: new DenoKVBackend({ path: PATH, timeout: TIMEOUT }),
  fetch: () => Promise.resolve(new Response("from the origin", { headers: { "cache-control": "max-age=60" } })),
  onError: () => {},
});
const text = await (await session.fetch("http://127.0.0.1/page")).text();
if (CLOSE) await session.close();
console.log(text);
`;

/** The same, with a read of the storage itself in flight when it is closed. */
const KV_CONNECT_CLOSED_WHILE_READING = `
process.env.DENO_KV_ACCESS_TOKEN = "leaks4-hunt-token";
const { DenoKVStorage } = await import(ROOT + "backends/deno_kv.ts");
const storage = new DenoKVStorage({ path: PATH, timeout: TIMEOUT });
const read = storage.get("k").catch((error) => error.name);
await new Promise((resolve) => setTimeout(resolve, 300)); // at the server
await storage.close();
console.log("closed");
`;

/** Runs `code` with `PATH`, `TIMEOUT` and `CLOSE` set, and how long its process took to end. */
async function exitOf(
  code: string,
  values: { PATH: string; TIMEOUT: number; CLOSE?: boolean },
  limit: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const constants = Object.entries({ CLOSE: false, ...values })
    .map(([name, value]) => `const ${name} = ${JSON.stringify(value)};\n`).join("");
  const child = runCollecting(constants + code);
  try {
    return await within(limit, child.exited);
  } finally {
    child.kill("SIGKILL");
  }
}

// `@deno/kv` (Node, Bun) sends KV Connect requests with no time limit of their own: one the cache
// gave up on at its `timeout` went on, its socket open, until the runtime's own limit (five
// minutes on Node) or for good: a script over a KV Connect database that stopped answering did not
// end when its work was done, closed or not.
Deno.test({
  name:
    "deno-kv: a process over a KV Connect database that does not answer ends once its work is done, closed or not",
  ...runsOnNodeOrBun("@deno/kv's KV Connect client"),
  fn: async () => {
    const silent = await silentServer();
    const stalled = await stalledKvConnect();
    try {
      for (const PATH of [silent.url, stalled.url]) {
        for (const CLOSE of [true, false]) {
          const { code, stdout, stderr } = await exitOf(
            KV_CONNECT_SESSION,
            { PATH, TIMEOUT: 300, CLOSE },
            10_000,
          )
            .catch((error) => {
              throw new Error(`${PATH}, ${CLOSE ? "closed" : "not closed"}: ${error.message}`);
            });
          equal(code, 0, stderr);
          equal(stdout.trim(), "from the origin");
        }
      }
    } finally {
      await Promise.all([silent.close(), stalled.close()]);
    }
  },
});

// close() did not end the storage's KV Connect requests in flight: the process lived on until
// each reached its time limit (here 60 s), or, before that limit applied to the requests
// themselves, for good; and `@deno/kv` went on retrying a request that a server answered with a
// 503, for 55 s (ten retries, each a second later than the last).
Deno.test({
  name: "deno-kv: close() ends the KV Connect requests in flight and their retries, so the process ends soon",
  ...runsOnNodeOrBun("@deno/kv's KV Connect client"),
  fn: async () => {
    const silent = await silentServer();
    const stalled = await stalledKvConnect();
    const unavailable = await unavailableKvConnect();
    try {
      // (A retry waits a second, two for the second one: the process ends once that wait is over.)
      for (const PATH of [silent.url, stalled.url, unavailable.url]) {
        const { code, stdout, stderr } = await exitOf(
          KV_CONNECT_CLOSED_WHILE_READING,
          { PATH, TIMEOUT: 60_000 },
          10_000,
        ).catch((error) => {
          throw new Error(`${PATH}: ${error.message}`);
        });
        equal(code, 0, stderr);
        equal(stdout.trim(), "closed");
      }
    } finally {
      await Promise.all([silent.close(), stalled.close(), unavailable.close()]);
    }
  },
});
