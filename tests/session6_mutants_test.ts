/**
 * Mutation pass over the lines changed since 5a53c09 (request bodies read for a key up to a limit,
 * preconditions a stored response answers, Deno KV's expiry, SQLite's purge in batches): each test
 * pins a behaviour that a small change to one of those lines broke with no test failing. The
 * comment above each test names the mutants it kills.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { DenoKVStorage, type KvAtomic, type KvLike } from "../backends/deno_kv.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { type SQLiteDatabase, type SQLiteStatement, SQLiteStorage } from "../backends/sqlite.ts";
import { CachedSession } from "../mod.ts";
import { answersPrecondition } from "../src/validation.ts";
import { openKv, within } from "./_fixtures.ts";
import { listenersOf } from "./_listeners.ts";
import { runsOn, RUNTIME, tempDir } from "./_runtime.ts";

const dir = tempDir("http_cache_session6_mutants_");
const URL_P = "http://127.0.0.1/session6";

/** A session storing POST over a memory backend that keeps entries up to 1 KiB, and its origin's calls. */
function postSession() {
  let calls = 0;
  const bodies: number[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    calls++;
    const request = new Request(input, init);
    bodies.push((await request.arrayBuffer()).byteLength);
    return new Response(`v${calls}`, { headers: { "cache-control": "max-age=600" } });
  };
  const session = new CachedSession({
    fetch,
    allowedMethods: ["GET", "POST"],
    backend: new MemoryBackend({ maxEntrySize: 1024 }),
  });
  const post = async (init: RequestInit = {}) => {
    const response = await session.fetch(URL_P, { method: "POST", ...init });
    return `${response.fromCache} ${await response.text()}`;
  };
  return { session, post, calls: () => calls, bodies };
}

// A stored 2xx, 299 too, and a stored 412 are what a client's own If-None-Match is evaluated
// against (RFC 9110 §13.2.1): one that does not name them is no answer; any other status (a
// redirect, a 404) answers as it is. Kills src/validation.ts:223 `entry.status <= 299` ->
// `< 299`, and `|| entry.status === 412` dropped.
Deno.test("a stored 2xx up to 299 and a stored 412 do not answer an If-None-Match that names another copy", () => {
  const request = new Headers({ "if-none-match": '"other"' });
  const answers = (status: number) =>
    answersPrecondition({ status, headers: [["etag", '"stored"']], responseTime: 0 }, request);
  deepEqual([200, 204, 299, 412].map(answers), [false, false, false, false]);
  deepEqual([301, 404, 410, 500].map(answers), [true, true, true, true]);
  const naming = new Headers({ "if-none-match": '"stored"' });
  equal(answersPrecondition({ status: 299, headers: [["etag", '"stored"']], responseTime: 0 }, naming), true);
});

// A POST without a body (`fetch(url, { method: "POST" })`) is keyed with an empty body, as
// before: it is stored and served. Kills src/lookup.ts:123 `if (copy.body === null) return new
// Uint8Array(0)` dropped (reading a null body failed, and every such POST went past the cache).
Deno.test("a POST without a body is stored and served again", async () => {
  const s = postSession();
  try {
    deepEqual([await s.post(), await s.post()], ["false v1", "true v1"]);
    equal(s.calls(), 1);
    // (With a signal too: the same path, watching for an abort.)
    const signal = new AbortController().signal;
    equal(await s.post({ signal }), "true v1");
  } finally {
    await s.session.close();
  }
});

// A body of exactly the largest entry the storage keeps is read for its key: only a larger one
// goes past the cache. Kills src/lookup.ts:137 `size > limit` -> `size >= limit`.
Deno.test("a POST whose body is exactly the largest entry size is stored and served; one byte more is not", async () => {
  const s = postSession();
  try {
    const exact = new Uint8Array(1024).fill(1);
    deepEqual([await s.post({ body: exact }), await s.post({ body: exact })], ["false v1", "true v1"]);
    const over = new Uint8Array(1025).fill(1);
    deepEqual([await s.post({ body: over }), await s.post({ body: over })], ["false v2", "false v3"]);
    // (What went to the origin was the whole body each time.)
    deepEqual(s.bodies, [1024, 1025, 1025]);
  } finally {
    await s.session.close();
  }
});

// An upload too large to key goes past the cache: when the origin stops reading it (an early
// 413), the caller's stream is cancelled, as without the cache. The cache let go of its copy of
// the body: a tee's source is cancelled only once both branches are. Kills src/lookup.ts:138
// `reader.cancel()` dropped when the body passes the limit.
Deno.test({
  name: "an upload larger than the cache keys is cancelled at its source when the origin stops reading it",
  // (Bun cancels no source of a cloned Request's body, with or without the cache.)
  ...runsOn(RUNTIME === "bun" ? "deno" : RUNTIME, "Bun's Request.clone() cancels no source"),
}, async () => {
  let cancelled!: (reason: unknown) => void;
  const cancel = new Promise<unknown>((resolve) => cancelled = resolve);
  let sent = 0;
  const upload = new ReadableStream<Uint8Array>({
    pull(controller) {
      // 3 KiB, then a body that goes on (a pipe from a process): it never ends by itself.
      // (No pull pending then: Bun's cancel would wait for it.)
      if (sent++ < 3) controller.enqueue(new Uint8Array(1024));
    },
    cancel: (reason) => cancelled(reason),
  });
  const session = new CachedSession({
    fetch: async (input, init) => {
      const request = new Request(input, init);
      await request.body?.cancel("too large");
      return new Response("too large", { status: 413 });
    },
    allowedMethods: ["GET", "POST"],
    backend: new MemoryBackend({ maxEntrySize: 1024 }),
  });
  try {
    const response = await within(
      5000,
      session.fetch(URL_P, { method: "POST", body: upload, duplex: "half" } as RequestInit),
    );
    deepEqual([response.status, await response.text()], [413, "too large"]);
    // (With the reasons of both branches of the tee, on some runtimes.)
    await within(5000, cancel);
  } finally {
    await session.close();
  }
});

/** A signal whose `abort` listeners still registered are counted. */
function counted(): { signal: AbortSignal; live: () => number } {
  const signal = new AbortController().signal;
  const live = listenersOf(signal);
  return { signal, live: () => live.size };
}

// One AbortSignal for many uploads (a page's, a worker's) keeps no listener of the cache's read
// of their bodies once each has been read: no more stay than the same POSTs sent without the
// cache leave (none on Deno and Bun; Node's Request keeps one until it is collected). Kills
// src/lookup.ts:144 `signal?.removeEventListener("abort", onAbort)` dropped.
Deno.test("POSTs under one long-lived signal leave no more abort listeners than without the cache", async () => {
  const s = postSession();
  try {
    const direct = counted();
    const fetch = async (init: RequestInit) => {
      const request = new Request(URL_P, { method: "POST", ...init });
      await request.arrayBuffer();
      return new Response("x");
    };
    for (const i of [0, 1, 2, 0]) await (await fetch({ body: `body ${i}`, signal: direct.signal })).text();
    const cached = counted();
    for (let i = 0; i < 3; i++) await s.post({ body: `body ${i}`, signal: cached.signal });
    equal(await s.post({ body: "body 0", signal: cached.signal }), "true v1");
    equal(s.calls(), 3);
    equal(cached.live(), direct.live());
  } finally {
    await s.session.close();
  }
});

/** A KV database given as `kv` (it has no `@deno/kv` expiry timer), noting each set's `expireIn`. */
function noting(kv: KvLike): { kv: KvLike; expiries: (number | undefined)[] } {
  const expiries: (number | undefined)[] = [];
  const wrapped: KvLike = {
    get: (key) => kv.get(key),
    list: (selector, options) => kv.list(selector, options),
    close: () => kv.close(),
    atomic: () => {
      const operation = kv.atomic();
      const atomic: KvAtomic = {
        check: (...checks) => (operation.check(...checks), atomic),
        set: (key, value, options) => {
          expiries.push(options?.expireIn);
          operation.set(key, value, options);
          return atomic;
        },
        delete: (key) => (operation.delete(key), atomic),
        commit: () => operation.commit(),
      };
      return atomic;
    },
  };
  return { kv: wrapped, expiries };
}

// A record kept 30 days in a KV database given as `kv` that arms no in-memory timer (Deno's own,
// a wrapper) gets KV's native expiry: only `@deno/kv`'s in-memory database has its timer bounded
// to 24.8 days. Without it, the record stayed in the database for good once expired. Kills
// backends/deno_kv.ts:243 `kv === this.#injected && expirerOf(kv) !== undefined` ->
// `kv === this.#injected`.
Deno.test("deno-kv: a record kept 30 days in a given database without an in-memory timer expires natively", async () => {
  const opened = await openKv(join(dir, "expiry.kv"));
  const { kv, expiries } = noting(opened);
  const storage = new DenoKVStorage({ kv, prefix: ["session6"] });
  try {
    const days30 = 30 * 24 * 60 * 60 * 1000;
    await storage.set("k", new Uint8Array([1, 2, 3]), Date.now() + days30);
    equal(expiries.length, 1);
    const expireIn = expiries[0];
    ok(expireIn !== undefined && Math.abs(expireIn - days30) < 60_000, `expireIn ${expireIn}`);
    deepEqual([...(await storage.get("k")) ?? []], [1, 2, 3]);
  } finally {
    await storage.close();
    opened.close();
  }
});

// A `database` whose statements' run() returns nothing (a wrapper, a driver that reports no
// changes) is purged on open and every 500 writes, as before: what it purged counts as less than
// a batch. Kills backends/sqlite.ts:282 `purged?.changes ?? 0` -> `?? PURGE_BATCH` (a purge at
// every write).
Deno.test("sqlite: a database whose run() reports no changes is purged every 500 writes, not at every write", async () => {
  const db = new DatabaseSync(join(dir, "quiet.db"));
  let purges = 0;
  const quiet: SQLiteDatabase = {
    exec: (sql) => db.exec(sql),
    close: () => db.close(),
    prepare: (sql) => {
      const statement = db.prepare(sql) as unknown as SQLiteStatement;
      const purge = /delete_at <= \?/.test(sql) && /^DELETE/.test(sql);
      return {
        run: (...params) => {
          if (purge) purges++;
          statement.run(...params);
          return undefined;
        },
        get: (...params) => statement.get(...params),
        all: (...params) => statement.all(...params),
      };
    },
  };
  const storage = new SQLiteStorage({ database: quiet });
  try {
    for (let i = 0; i < 20; i++) await storage.set(`k${i}`, new Uint8Array([i]), Date.now() + 60_000);
    equal((await storage.get("k19"))?.[0], 19);
    equal(purges, 1);
  } finally {
    await storage.close();
    db.close();
  }
});
