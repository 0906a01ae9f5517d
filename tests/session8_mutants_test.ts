/**
 * Mutation pass over the lines changed since 313bcb2 (requests that demand validation, conditional
 * requests on an origin failure, keyFn and abort, Redis retries, late settles past a deadline,
 * evict events, KV Connect requests, byte order marks, redirect writes, ranges past 2^53): each test
 * pins a behaviour that a small change to one of those lines broke with no test failing. The
 * comment above each test names the mutants it kills.
 *
 * @module
 */
import process from "node:process";
import { createClient } from "@redis/client";
import { type RedisClientLike, RedisStorage } from "../backends/redis.ts";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { DenoKVStorage } from "../backends/deno_kv.ts";
import { Deadlines } from "../src/deadline.ts";
import { assertEquals } from "./_assert.ts";
import { CachedSession, type CacheEvent, type CacheRequestInit, MemoryBackend } from "../mod.ts";
import { delay, type Loopback, loopback, until, within } from "./_fixtures.ts";
import { runsOn, RUNTIME } from "./_runtime.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";
import { type SilencingProxy, silencingProxy } from "./_servers.ts";
import { serviceUrl } from "./_services.ts";
import { DeleteAts, scripted, URL_A } from "./_scripted.ts";

const redis = serviceUrl("REDIS_URL");

// Kills src/lookup.ts:283 (`o.cacheControl &&` dropped from demandsValidation): a session that
// ignores request directives (`cacheControl: false`) took a request's `Cache-Control: no-cache` or
// `Pragma: no-cache` as a demand for validation, and sent it to the origin beside an identical
// request already there, instead of letting it share that response.
Deno.test("session8 mutants: without cacheControl, a request's own no-cache shares an identical request's response", async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const o = origin(async (_request, n) => {
    await gate;
    return reply(`v${n}`, { "cache-control": "max-age=600" });
  });
  const session = new CachedSession({ fetch: o.fetch, cacheControl: false });
  const ask = (init?: CacheRequestInit) => session.fetch(URL_A, init).then((response) => response.text());
  try {
    const first = ask();
    await until(() => o.calls === 1);
    const others = [
      ask({ headers: { "cache-control": "no-cache" } }),
      ask({ headers: { pragma: "no-cache" } }),
    ];
    await delay(50); // (time for either to reach the origin, were it sent)
    open();
    assertEquals(await within(5000, Promise.all([first, ...others])), ["v1", "v1", "v1"]);
    assertEquals(o.calls, 1);
  } finally {
    open();
    await session.close();
  }
});

// Kills src/lookup.ts:301 (`if (flow.mode === "no-cache") return false;` dropped): a session that
// ignores directives (`cacheControl: false`) with a `staleIfError` window served the stored
// response in place of an origin's failure to a request in the no-cache mode, which demands
// validation (the Fetch standard's cache fails it).
Deno.test("session8 mutants: without cacheControl, a no-cache mode request gets the origin's failure, not staleIfError", async () => {
  let down = false;
  const s = scripted((clock) => () => {
    if (down) return reply("origin error", {}, { status: 503, clock });
    return reply("v1", { "cache-control": "max-age=600", etag: '"a"' }, { clock });
  }, { cacheControl: false, staleIfError: 60 });
  try {
    await s.get();
    down = true;
    const plain = await s.get({ headers: { "cache-control": "max-age=0" } });
    assertEquals([plain.response.status, plain.body], [200, "v1"]); // (a hit: directives ignored)
    s.clock.tick(601); // stale, within staleIfError
    const served = await s.get();
    assertEquals([served.response.status, served.body, served.response.fromCache], [200, "v1", true]);
    const demanding = await s.get({ cache: "no-cache" });
    assertEquals([demanding.response.status, demanding.body], [503, "origin error"]);
  } finally {
    await s.session.close();
  }
});

// Kills backends/redis.ts:382 (the caller's own client no longer exempt from the retry): a command
// that failed on a client the caller gave (closed, or gone) was sent to it a second time, which
// the retry is only for: the storage's own connection, which it replaces.
Deno.test({
  name: "session8 mutants: a command that fails on the caller's own Redis client is sent once",
  ignore: redis.skip !== undefined,
  fn: async () => {
    const client = await createClient({ url: redis.url! }).connect();
    client.destroy(); // (the caller's client is gone: isOpen is false, and each command fails)
    const sent: string[] = [];
    const given: RedisClientLike = {
      get isOpen() {
        return client.isOpen;
      },
      sendCommand: (args, options) => {
        sent.push(String(args[0]));
        return client.sendCommand(args, options);
      },
    };
    const storage = new RedisStorage({
      client: given,
      prefix: `http-cache-test:helper-222:${crypto.randomUUID()}:`,
    });
    try {
      await storage.get("key").catch(() => {});
      await storage.set("key", new Uint8Array([1]), Date.now() + 60_000).catch(() => {});
      assertEquals(sent, ["GET", "SET"]);
    } finally {
      await storage.close();
    }
  },
});

/**
 * Runs `test` over a Redis storage reached through a proxy, beside a key of another type (a list)
 * under its prefix, where a GET fails with WRONGTYPE; the storage has connected.
 */
async function besideWrongType(
  test: (storage: RedisStorage, proxy: SilencingProxy) => Promise<void>,
): Promise<void> {
  const proxy = await silencingProxy(redis.url!);
  const prefix = `http-cache-test:helper-222:${crypto.randomUUID()}:`;
  const raw = await createClient({ url: redis.url! }).connect();
  const storage = new RedisStorage({ url: `redis://127.0.0.1:${proxy.port}`, prefix });
  try {
    await raw.sendCommand(["LPUSH", `${prefix}key`, "x"]);
    await storage.set("other", new Uint8Array([1]), Date.now() + 60_000); // (connected)
    await test(storage, proxy);
  } finally {
    await storage.clear().catch(() => {});
    await storage.close();
    raw.destroy();
    await proxy.close();
  }
}

// Kills backends/redis.ts:388 (`client.isOpen ||` dropped): a command that the server refused on
// the storage's own connection, still open (a key of another type under the prefix: WRONGTYPE),
// was sent once more, though only a connection found gone is worth a second try.
Deno.test({
  name: "session8 mutants: a command Redis refuses on an open connection is sent once",
  ignore: redis.skip !== undefined,
  fn: () =>
    besideWrongType(async (storage, proxy) => {
      assertEquals(await storage.get("key"), new Uint8Array(0)); // (no record: the cache deletes it)
      assertEquals(proxy.count("GET"), 1);
    }),
});

// Kills backends/redis.ts:391 (the retry sent without `recover`): a GET that found the idle
// connection gone, sent again on a new one, failed on a key of another type under the prefix
// (WRONGTYPE), which a first try reads as no record (an empty one, which the cache deletes).
Deno.test({
  name: "session8 mutants: a read retried on a new Redis connection reads a key of another type as no record",
  ignore: redis.skip !== undefined,
  fn: () =>
    besideWrongType(async (storage, proxy) => {
      proxy.forget();
      assertEquals(await storage.get("key"), new Uint8Array(0));
      assertEquals(proxy.count("GET"), 1); // (the first try never reached the server)
    }),
});

// Kills src/deadline.ts:85 and :93 (`if (!this.#pending.delete(watched)) return;` made a plain
// delete): work that settled past its deadline was still mapped, or recovered (RedisStorage's
// recover sends the command again: work for no one, whose failure went unhandled).
Deno.test("session8 mutants: what work settles with past its deadline is neither mapped nor recovered", async () => {
  const deadlines = new Deadlines(20);
  const calls: string[] = [];
  const late = <T>(settle: () => T) => delay(150).then(settle);
  const outcomes = await Promise.all([
    deadlines.race(late(() => 1), () => new Error("late value"), (value) => calls.push(`map ${value}`)).catch(
      (error: Error) => error.message,
    ),
    deadlines.race(
      late(() => {
        throw new Error("failed");
      }),
      () => new Error("late failure"),
      undefined,
      (reason) => calls.push(`recover ${reason}`),
    ).catch((error: Error) => error.message),
  ]);
  assertEquals(outcomes, ["late value", "late failure"]);
  await delay(200); // (both settled by now)
  assertEquals(calls, []);
  // (In time, both are made of what came.)
  const onTime = await deadlines.race(Promise.resolve(2), () => new Error("never"), (value) => value * 2);
  assertEquals(onTime, 4);
});

/** A memory storage whose write number `held` (from 0) waits for `open()`. */
class HeldWrites extends MemoryStorage {
  held = -1;
  #writes = 0;
  #gate = Promise.withResolvers<void>();
  open(): void {
    this.#gate.resolve();
  }
  override async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    if (this.#writes++ === this.held) await this.#gate.promise;
    return super.set(key, value, deleteAt);
  }
}

/** An origin of two redirects in a row, `/hop1` to `/hop2` to `/final`, and `/to-empty` to `/empty`. */
function hops() {
  return origin((request) => {
    const path = new URL(request.url).pathname;
    const cached = { "cache-control": "max-age=600" };
    if (path === "/hop1") return reply("moved", { ...cached, location: "/hop2" }, { status: 301 });
    if (path === "/hop2") return reply("moved", { ...cached, location: "/final" }, { status: 301 });
    if (path === "/to-empty") return reply("moved", { ...cached, location: "/empty" }, { status: 301 });
    return reply(path === "/empty" ? "" : "done", cached);
  });
}

/** Whether `work` is still pending after `ms`. */
async function pendingAfter(work: Promise<unknown>, ms: number): Promise<boolean> {
  const PENDING = Symbol("pending");
  return await Promise.race([work.then(() => false, () => false), delay(ms).then(() => PENDING)]) === PENDING;
}

// Kills src/redirects.ts:52 (`?? request.after` dropped, or the `request.after` test dropped),
// src/redirects.ts:53 (`allSettled([request.after, write])` made `write`) and src/redirects.ts:99
// (`next.after = after` dropped): the body at the end of two redirects waited for the write of the
// last one alone, not the first's: a process that read it and exited lost the first step.
// Also src/exchange.ts:332 (`flow.after` not waited for by a miss's body) and src/exchange.ts:356
// (`storesRedirect` dropped).
Deno.test("session8 mutants: the body at the end of two followed redirects ends once the first redirect is stored", async () => {
  // (The first redirect is written first, then the second.)
  for (const held of [0, 1]) {
    const storage = new HeldWrites();
    storage.held = held;
    const o = hops();
    const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
    try {
      const response = await session.fetch("http://127.0.0.1/hop1");
      assertEquals(response.status, 200);
      const text = response.text();
      assertEquals(await pendingAfter(text, 300), true, `${held}: the body waits for the write`);
      storage.open();
      assertEquals(await within(5000, text), "done");
      await within(
        5000,
        session.fetch("http://127.0.0.1/hop1", { cache: "only-if-cached" }).then((r) => r.text()),
      );
    } finally {
      storage.open();
      await session.close();
    }
  }
});

// Kills src/serve.ts:101 (`after` left undefined: a stored response reached through redirects was
// served with its body at once; `body === null` dropped: a HEAD's null body made a stream that
// fails; `settledWithin` dropped: a write that never settles held the body for good) and
// src/served_body.ts:267 (`await ready` dropped), :272 (`ready` not awaited by a body taken
// whole), :268 (`bytes.length > 0` dropped: an empty body read as one empty chunk) and :268, :272
// (`bytes.slice()` made `bytes`: the caller's copy was the stored buffer). And src/redirects.ts:52
// (`return write ?? request.after` made `return write`: a stored redirect, a hit, between a
// redirect still being written and the response lost the first one's write).
Deno.test("session8 mutants: a stored response at the end of followed redirects ends once they are stored, 2 s at most", async (t) => {
  /** A session that stored what `stored` leads to, and whose next write (a redirect's) is held. */
  async function setUp(stored = "/final") {
    const storage = new HeldWrites();
    const session = new CachedSession({ fetch: hops().fetch, backend: new CacheBackend(storage) });
    await (await session.fetch(`http://127.0.0.1${stored}`)).text();
    storage.held = stored === "/hop2" ? 2 : 1;
    return { storage, session };
  }
  const reads: [string, (response: Response) => Promise<string>][] = [
    ["text", (response) => response.text()],
    ["reader", async (response) => {
      const reader = response.body!.getReader();
      const chunks: Uint8Array[] = [];
      for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value);
      const text = chunks.map((chunk) => new TextDecoder().decode(chunk)).join("");
      for (const chunk of chunks) chunk.fill(0); // (the caller's own bytes: the cache keeps its own)
      return text;
    }],
  ];
  for (const [how, read] of reads) {
    await t.step(how, async () => {
      const { storage, session } = await setUp();
      try {
        const response = await session.fetch("http://127.0.0.1/hop1");
        assertEquals([response.status, response.fromCache], [200, true]);
        const body = read(response);
        assertEquals(await pendingAfter(body, 300), true, "the body waits for the redirect's write");
        storage.open();
        assertEquals(await within(5000, body), "done");
        const again = await session.fetch("http://127.0.0.1/final");
        assertEquals([again.fromCache, await again.text()], [true, "done"]);
      } finally {
        storage.open();
        await session.close();
      }
    });
  }
  await t.step("through a stored redirect", async () => {
    const { storage, session } = await setUp("/hop2");
    try {
      const response = await session.fetch("http://127.0.0.1/hop1");
      const body = response.text();
      assertEquals(await pendingAfter(body, 300), true, "the body waits for the first redirect's write");
      storage.open();
      assertEquals(await within(5000, body), "done");
    } finally {
      storage.open();
      await session.close();
    }
  });
  await t.step("empty", async () => {
    const { storage, session } = await setUp("/empty");
    try {
      const response = await session.fetch("http://127.0.0.1/to-empty");
      storage.open();
      const reader = response.body!.getReader();
      const chunks: number[] = [];
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        chunks.push(read.value.length);
      }
      assertEquals(chunks, []);
    } finally {
      storage.open();
      await session.close();
    }
  });
  await t.step("HEAD", async () => {
    const { storage, session } = await setUp();
    try {
      const response = await session.fetch("http://127.0.0.1/hop1", { method: "HEAD" });
      assertEquals([response.status, response.body], [200, null]);
    } finally {
      storage.open();
      await session.close();
    }
  });
  await t.step("a write that never settles", async () => {
    const { storage, session } = await setUp();
    try {
      const response = await session.fetch("http://127.0.0.1/hop1");
      assertEquals(await within(5000, response.text()), "done");
    } finally {
      storage.open();
      await session.close();
    }
  });
});

// Kills src/redirects.ts:215, :295, :300 and :305 (`hrefWithoutUserinfo(request.url)` made
// `request.url.href`): the errors of redirects (one an unsafe request refuses, a Location that
// is no URL or not HTTP(S), more than 20) named the URL with its password, which onError and the
// console hear.
Deno.test("session8 mutants: the errors of followed redirects name the URL without its password", async () => {
  // (No Request made of the URL: Node's and Bun's refuse one with userinfo.)
  const fetch = (input: RequestInfo | URL) => {
    const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
    const location = path === "/bad" ? "http://[::1" : path === "/ftp" ? "ftp://127.0.0.1/file" : "/loop";
    return Promise.resolve(reply("moved", { location }, { status: 302 }));
  };
  const session = new CachedSession({ fetch });
  const failure = (path: string, init?: CacheRequestInit) =>
    session.fetch(`http://alice:secret@127.0.0.1${path}`, init).then(
      () => "resolved",
      (error: Error) => `${error.name}: ${error.message}`,
    );
  try {
    const messages = [
      await failure("/error", { method: "POST", body: "x", redirect: "error" }),
      await failure("/bad"),
      await failure("/ftp"),
      await failure("/loop"),
    ];
    assertEquals(messages.filter((message) => message.includes("secret") || message.includes("alice")), []);
    assertEquals(messages.map((message) => message.startsWith("TypeError: Cannot f")), [
      true,
      true,
      true,
      true,
    ], messages.join("\n"));
  } finally {
    await session.close();
  }
});

// Kills src/cache_access.ts:587 (`flow.mode === "reload" &&` dropped from mayHoldEntry): a request
// in the default mode that found its URL's slot but no entry for itself (a Vary variant not
// stored yet) and got a response too large to store evicted what the slot held, another variant's
// response, and told of an `evict unstorable`, though nothing of its own was stored.
Deno.test("session8 mutants: a variant too large to store leaves another variant's stored response alone", async () => {
  const o = origin((request) => {
    const large = request.headers.get("accept-language") === "fr";
    const headers = { "cache-control": "max-age=600", vary: "accept-language" };
    return reply("x".repeat(large ? 500 : 50), large ? { ...headers, "content-length": "500" } : headers);
  });
  const evicts: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new MemoryBackend({ maxEntrySize: 300 }),
    onEvent: (event: CacheEvent) => event.type === "evict" && evicts.push(`${event.request} ${event.reason}`),
  });
  const ask = async (language: string) => {
    const response = await session.fetch(URL_A, { headers: { "accept-language": language } });
    return [(await response.text()).length, response.fromCache];
  };
  try {
    assertEquals(await ask("en"), [50, false]);
    assertEquals(await ask("fr"), [500, false]);
    await settle();
    assertEquals(evicts, []);
    assertEquals(await ask("en"), [50, true]);
  } finally {
    await session.close();
  }
});

// Kills src/kv_timed.ts:49 (`.then(readWhole)` dropped): a KV Connect response whose header came in
// time but whose body stalled was handed to `@deno/kv` unread, past the time limit: the storage
// gave up on the read, yet the request went on, its socket open (and the process alive) for good.
Deno.test({
  name: "session8 mutants: a KV Connect read whose body stalls ends at the time limit",
  ...runsOn(RUNTIME === "deno" ? "node" : RUNTIME, "@deno/kv's KV Connect client"),
  fn: async () => {
    let reads = 0;
    let ended = 0;
    const server: Loopback = await loopback((request, response) => {
      if (request.url === "/") {
        const { url } = server;
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
          version: 3,
          databaseId: "00000000-0000-4000-8000-000000000222",
          endpoints: [{ url, consistency: "strong" }],
          token: "session8-endpoint-token",
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        }));
        return;
      }
      reads++;
      response.on("close", () => ended++);
      response.writeHead(200, { "content-type": "application/x-protobuf" }).write(new Uint8Array([10]));
    });
    const token = process.env.DENO_KV_ACCESS_TOKEN;
    process.env.DENO_KV_ACCESS_TOKEN = "session8-token";
    const storage = new DenoKVStorage({ path: server.url, timeout: 300 });
    try {
      await storage.get("k").catch(() => {});
      await within(3000, until(() => reads > 0 && ended === reads));
    } finally {
      await storage.close();
      if (token === undefined) delete process.env.DENO_KV_ACCESS_TOKEN;
      else process.env.DENO_KV_ACCESS_TOKEN = token;
      await server.close();
    }
  },
});

// Kills src/stale_windows.ts:39 (`${shared}` left out of the key the windows are noted under): a
// shared session made after a private one with otherwise the same options replaced the private
// one's windows, and a response whose s-maxage forbids only a shared cache stale use was dropped
// at expiry, though the private session was to serve it through an outage (its stale-if-error).
Deno.test("session8 mutants: a private session's stale windows still keep what a shared one over the backend stores", async () => {
  const clock = new Clock();
  const headers = { "cache-control": "max-age=10, s-maxage=10, stale-if-error=3000" };
  const o = origin(() => reply("v1", headers, { clock }));
  const storage = new DeleteAts();
  const backend = new CacheBackend(storage);
  const reading = new CachedSession({ backend, fetch: o.fetch, now: clock.fn });
  const writing = new CachedSession({ backend, fetch: o.fetch, now: clock.fn, shared: true });
  try {
    await (await writing.fetch(URL_A)).text();
    const kept = (storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000;
    assertEquals(kept >= 3010, true, `kept for ${kept} s`);
  } finally {
    await writing.close();
    await reading.close();
  }
});
