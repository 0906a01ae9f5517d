/**
 * Request coalescing: identical concurrent requests share one origin request, each caller still
 * gets a response of its own, and every caller settles whatever the origin, the backend or the
 * other callers do.
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { CachedSession, type CachedSessionOptions, type CacheRequestInit } from "../mod.ts";
import { BACKENDS, delay, dispose, loopback, until, within } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";

const BODY = "x".repeat(64 * 1024);
const FRESH = { "cache-control": "max-age=60", "content-type": "text/plain" };

/** Resolves once `condition()` holds (polling: the origin runs in this process). */
/** An origin that answers every request once `release` is called. */
async function gatedServer() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const server = await loopback(async (_request, response) => {
    await gate;
    response.writeHead(200, FRESH).end(BODY);
  });
  return { server, release };
}

/** The error plain fetch gives for `url`. */
async function plainFetchError(url: string): Promise<unknown> {
  try {
    await (await fetch(url)).arrayBuffer();
  } catch (error) {
    return error;
  }
  throw new Error(`plain fetch of ${url} did not fail`);
}

function sameErrorAs(expected: unknown): (error: unknown) => boolean {
  return (error) => {
    ok(error instanceof Error && expected instanceof Error, `not an Error: ${String(error)}`);
    equal(error.name, expected.name);
    equal(error.constructor, expected.constructor);
    return true;
  };
}

Deno.test("coalescing: 100 identical concurrent requests make one origin request, on every backend", async (t) => {
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const server = await loopback(async (_request, response) => {
          await delay(20); // a real origin takes a moment; the other 99 arrive meanwhile
          response.writeHead(200, FRESH).end(BODY);
        });
        const cache = await backend.open();
        const session = new CachedSession({ backend: cache });
        try {
          const responses = await Promise.all(
            Array.from({ length: 100 }, () => session.fetch(`${server.url}/data`)),
          );
          const bodies = await Promise.all(responses.map((response) => response.text()));
          equal(server.hits, 1, "one origin request");
          ok(bodies.every((body) => body === BODY), "every caller reads the whole body");
          equal(responses.filter((response) => !response.fromCache).length, 1);
          equal(new Set(responses.map((response) => response.cacheKey)).size, 1);
          const later = await session.fetch(`${server.url}/data`);
          equal([later.fromCache, await later.text() === BODY, server.hits].join(), "true,true,1");
        } finally {
          await session.close();
          await dispose(cache);
          await server.close();
        }
      },
    });
  }
});

Deno.test("coalescing: each caller gets its own body; cancelling, cloning or half-reading one leaves the others whole", async () => {
  const server = await loopback(async (_request, response) => {
    await delay(10);
    response.writeHead(200, FRESH).end(BODY);
  });
  const session = new CachedSession();
  try {
    const responses = await Promise.all(Array.from({ length: 6 }, () => session.fetch(server.url)));
    await responses[0]!.body!.cancel();
    const reader = responses[1]!.body!.getReader();
    ok((await reader.read()).value!.length > 0);
    await reader.cancel();
    const copy = responses[2]!.clone();
    const rest = await Promise.all([copy, ...responses.slice(2)].map((response) => response.text()));
    ok(rest.every((body) => body === BODY));
    equal(server.hits, 1);
  } finally {
    await session.close();
    await server.close();
  }
});

/**
 * A session over an origin that first answers "v1" with `cacheControl`, then, 10 ms late, with
 * what `fail` gives (or throws): v1 is stored and 20 s old, stale.
 */
async function staleBeforeFailure(cacheControl: string, fail: () => Response, options: CachedSessionOptions) {
  const clock = new Clock();
  const o = origin(async (_request, n) => {
    if (n === 1) return reply("v1", { "cache-control": cacheControl }, { clock });
    await delay(10);
    return fail();
  });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, ...options });
  equal(await (await session.fetch("http://h.test/")).text(), "v1");
  clock.tick(20);
  return { o, session };
}

Deno.test("coalescing: a network error reaches every waiter, as the error plain fetch gives", async (t) => {
  await t.step("a fetch-shaped origin: every caller rejects with the very same error", async () => {
    const failure = new TypeError("network down");
    const o = origin(async () => {
      await delay(10);
      throw failure;
    });
    const session = new CachedSession({ fetch: o.fetch });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => session.fetch("http://h.test/")),
    );
    equal(o.calls, 1);
    ok(results.every((result) => result.status === "rejected" && result.reason === failure));
    await session.close();
  });

  await t.step(
    "with a stale response within staleIfError: every waiter gets it, after one origin request",
    async () => {
      const { o, session } = await staleBeforeFailure("max-age=10", () => {
        throw new TypeError("network down");
      }, { staleIfError: 60 });
      const responses = await Promise.all(Array.from({ length: 20 }, () => session.fetch("http://h.test/")));
      equal(o.calls, 2);
      for (const response of responses) {
        equal(response.fromCache, true);
        equal(await response.text(), "v1");
      }
      equal(session.stats().staleServed, 20);
      await session.close();
    },
  );

  await t.step(
    "a 5xx answered with a stale response (stale-if-error): every waiter gets it too, after one origin request; one that may not use stale asks itself",
    async () => {
      const { o, session } = await staleBeforeFailure(
        "max-age=10, stale-if-error=60",
        () => new Response("down", { status: 503 }),
        { cacheStatus: true },
      );
      const responses = await Promise.all([
        ...Array.from({ length: 19 }, () => session.fetch("http://h.test/")),
        session.fetch("http://h.test/", { cache: "no-cache" }),
      ]);
      const fresh = responses.pop()!;
      equal(o.calls, 3);
      deepEqual([fresh.status, fresh.fromCache, await fresh.text()], [503, false, "down"]);
      for (const response of responses) {
        equal(response.fromCache, true);
        equal(await response.text(), "v1");
        match(response.headers.get("cache-status")!, /fwd=stale; fwd-status=503/);
      }
      equal(session.stats().staleServed, 19);
      await session.close();
    },
  );

  await t.step("a waiter that asks only for what is stored gets a 504, not the error", async () => {
    const o = origin(async () => {
      await delay(10);
      throw new TypeError("network down");
    });
    const session = new CachedSession({ fetch: o.fetch });
    const [leader, waiter] = await Promise.allSettled([
      session.fetch("http://h.test/"),
      session.fetch("http://h.test/", { headers: { "cache-control": "only-if-cached" } }),
    ]);
    equal(o.calls, 1);
    equal(leader.status, "rejected");
    equal(waiter.status === "fulfilled" && waiter.value.status, 504);
    await session.close();
  });

  await t.step("a real origin that drops the connection", async () => {
    const server = await loopback(async (request) => {
      await delay(10);
      request.socket.destroy();
    });
    const session = new CachedSession();
    try {
      const expected = await plainFetchError(`${server.url}/plain`);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => session.fetch(server.url)));
      equal(server.hitsOf("/"), 1);
      for (const result of results) {
        equal(result.status, "rejected");
        sameErrorAs(expected)((result as PromiseRejectedResult).reason);
      }
    } finally {
      await session.close();
      await server.close();
    }
  });
});

Deno.test("coalescing: a waiter waits for a body of no declared length (a feed that may never end) 5 s at most, then asks itself; for one of declared length, however slow, to its end", async () => {
  const encoder = new TextEncoder();
  /** A body that sends a chunk every 100 ms: for ever, or until `length` bytes (then declared). */
  const trickle = (length?: number) => {
    let timer: ReturnType<typeof setInterval>;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(() => {
          controller.enqueue(encoder.encode("x"));
          if (++sent === length) (clearInterval(timer), controller.close());
        }, 100);
      },
      cancel: () => clearInterval(timer),
    });
    const headers: Record<string, string> = { "cache-control": "max-age=60" };
    if (length !== undefined) headers["content-length"] = String(length);
    return new Response(body, { headers });
  };
  // The slow body ends after 6 s, past the 5 s a waiter waits for a feed.
  const o = origin((request) => trickle(request.url.endsWith("/feed") ? undefined : 60));
  const session = new CachedSession({ fetch: o.fetch });
  const calls = (path: string) => o.requests.filter((request) => request.url.endsWith(path)).length;
  const [feed, feedWaiter, slow, slowWaiter] = await within(
    20_000,
    Promise.all([
      session.fetch("http://h.test/feed"),
      session.fetch("http://h.test/feed"),
      session.fetch("http://h.test/slow"),
      session.fetch("http://h.test/slow"),
    ]),
  );
  deepEqual([calls("/feed"), feedWaiter.fromCache], [2, false]);
  deepEqual([calls("/slow"), await slow.text(), await slowWaiter.text()], [
    1,
    "x".repeat(60),
    "x".repeat(60),
  ]);
  await feed.body!.cancel();
  await feedWaiter.body!.cancel();
  await session.close();
});

Deno.test("coalescing: a waiter that aborts rejects alone; the origin request and the others go on", async () => {
  const { server, release } = await gatedServer();
  const session = new CachedSession();
  try {
    const controller = new AbortController();
    const calls = Array.from(
      { length: 10 },
      (_, i) => session.fetch(server.url, i === 3 ? { signal: controller.signal } : {}).then((r) => r.text()),
    );
    await until(() => server.hits === 1);
    await delay(5); // let the other nine reach the wait
    controller.abort();
    await rejects(calls[3]!, (error: unknown) => error === controller.signal.reason);
    release();
    const bodies = await Promise.all(calls.filter((_, i) => i !== 3));
    ok(bodies.every((body) => body === BODY));
    equal(server.hits, 1);
  } finally {
    release();
    await session.close();
    await server.close();
  }
});

Deno.test("coalescing: a waiter whose signal is already aborted rejects at once, as fetch does", async () => {
  const o = origin(() => reply("x", FRESH));
  const session = new CachedSession({ fetch: o.fetch });
  const reason = new Error("gone");
  await rejects(session.fetch("http://h.test/", { signal: AbortSignal.abort(reason) }), (e) => e === reason);
  await session.close();
});

Deno.test("coalescing: the first caller aborting before the response does not fail the others", async () => {
  const { server, release } = await gatedServer();
  const session = new CachedSession();
  try {
    const controller = new AbortController();
    const first = session.fetch(server.url, { signal: controller.signal });
    await until(() => server.hits === 1);
    const others = Array.from({ length: 10 }, () => session.fetch(server.url).then((r) => r.text()));
    await delay(5);
    controller.abort();
    await rejects(first, (error: unknown) => (error as Error).name === "AbortError");
    release();
    const bodies = await Promise.all(others);
    ok(bodies.every((body) => body === BODY));
    equal(server.hits, 1, "the aborted caller's origin request goes on for the others");
  } finally {
    release();
    await session.close();
    await server.close();
  }
});

Deno.test("coalescing: a waiter whose leader aborts gets the response of the first origin request", async () => {
  // An origin that answers once released, and fails a request whose signal aborts first, as fetch does.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const o = origin((request) =>
    new Promise((resolve, reject) => {
      request.signal.addEventListener("abort", () => reject(request.signal.reason));
      gate.then(() => resolve(reply(BODY, FRESH)));
    })
  );
  const session = new CachedSession({ fetch: o.fetch });
  const controller = new AbortController();
  const leader = session.fetch("http://h.test/", { signal: controller.signal });
  await until(() => o.calls === 1);
  const waiter = session.fetch("http://h.test/");
  await delay(5); // let the waiter reach the wait
  controller.abort();
  await rejects(leader, (error: unknown) => error === controller.signal.reason);
  equal(o.requests[0]!.signal.aborted, false, "the origin request goes on for the waiter");
  release();
  equal(await (await waiter).text(), BODY);
  equal(o.calls, 1, "the origin is asked once");
  await session.close();
});

Deno.test("coalescing: the origin request of a leader that aborted stops once its last waiter aborts too", async () => {
  const o = origin((request) =>
    new Promise((_resolve, reject) =>
      request.signal.addEventListener("abort", () => reject(request.signal.reason))
    )
  );
  const session = new CachedSession({ fetch: o.fetch });
  const [leading, waiting] = [new AbortController(), new AbortController()];
  const leader = session.fetch("http://h.test/", { signal: leading.signal });
  await until(() => o.calls === 1);
  const waiter = session.fetch("http://h.test/", { signal: waiting.signal });
  await delay(5); // let the waiter reach the wait
  leading.abort();
  await rejects(leader, (error: unknown) => error === leading.signal.reason);
  equal(o.requests[0]!.signal.aborted, false, "the waiter still wants it");
  waiting.abort();
  await rejects(waiter, (error: unknown) => error === waiting.signal.reason);
  equal(o.requests[0]!.signal.aborted, true, "no one wants it any more");
  await settle();
  equal([o.calls, await session.cache.count()].join(), "1,0");
  await session.close();
});

Deno.test("coalescing: the first caller aborting in the middle of the body does not fail the others", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const server = await loopback(async (_request, response) => {
    response.writeHead(200, FRESH);
    response.write(BODY.slice(0, 1000));
    await gate;
    response.end(BODY.slice(1000));
  });
  const session = new CachedSession();
  try {
    const controller = new AbortController();
    const first = await session.fetch(server.url, { signal: controller.signal });
    const others = Array.from({ length: 10 }, () => session.fetch(server.url).then((r) => r.text()));
    const reader = first.body!.getReader();
    await reader.read();
    await delay(5); // let the others reach the wait
    controller.abort();
    await rejects(reader.read(), (error: unknown) => (error as Error).name === "AbortError");
    release();
    const bodies = await Promise.all(others);
    ok(bodies.every((body) => body === BODY), "no waiter is served the partial body");
    equal(server.hits, 1, "the aborted caller's origin request goes on for the others");
    const stored = await session.fetch(server.url);
    equal([stored.fromCache, await stored.text() === BODY].join(), "true,true");
  } finally {
    release();
    await session.close();
    await server.close();
  }
});

/** A storage whose writes fail or never finish, and whose reads may fail too. */
class FaultyStorage extends MemoryStorage {
  override readonly name = "faulty";
  writes: "fail" | "hang" | "work" = "work";
  reads: "fail" | "work" = "work";
  override get(key: string): Promise<Uint8Array | undefined> {
    return this.reads === "fail" ? Promise.reject(new Error("read refused")) : super.get(key);
  }
  override set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    if (this.writes === "fail") return Promise.reject(new Error("write refused"));
    if (this.writes === "hang") return new Promise(() => {});
    return super.set(key, value, deleteAt);
  }
}

Deno.test("coalescing: waiters settle when the backend fails in between", async (t) => {
  for (const mode of ["reads fail", "writes fail", "writes never finish"] as const) {
    await t.step(mode, async () => {
      const storage = new FaultyStorage();
      if (mode === "reads fail") storage.reads = "fail";
      else storage.writes = mode === "writes fail" ? "fail" : "hang";
      const o = origin(async () => {
        await delay(10);
        return reply(BODY, FRESH);
      });
      const errors: string[] = [];
      const session = new CachedSession({
        fetch: o.fetch,
        backend: new CacheBackend(storage),
        onError: (_error, context) => errors.push(context.operation),
      });
      const bodies = await Promise.all(
        Array.from({ length: 20 }, () => session.fetch("http://h.test/").then((r) => r.text())),
      );
      ok(bodies.every((body) => body === BODY));
      equal(o.calls, 1);
      ok(mode === "writes never finish" || errors.length > 0, "the failure reached onError");
      if (mode !== "writes never finish") await session.close();
    });
  }
});

Deno.test("coalescing: responses that are not stored are not shared: each waiter asks the origin", async () => {
  const o = origin(async (_request, n) => {
    await delay(5);
    return reply(`response ${n}`, { "cache-control": "no-store" });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const bodies = await Promise.all(
    Array.from({ length: 10 }, () => session.fetch("http://h.test/").then((r) => r.text())),
  );
  equal(o.calls, 10);
  equal(new Set(bodies).size, 10, "no caller sees another's no-store response");
  await session.close();
});

Deno.test("coalescing: a waiter whose Vary headers differ from the stored response asks the origin itself", async () => {
  const o = origin(async (request) => {
    await delay(5);
    return reply(`in ${request.headers.get("accept-language")}`, { ...FRESH, vary: "accept-language" });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const [en, de] = await Promise.all(
    ["en", "de"].map((language) =>
      session.fetch("http://h.test/", { headers: { "accept-language": language } }).then((r) => r.text())
    ),
  );
  equal(`${en}|${de}`, "in en|in de");
  await session.close();
});

Deno.test("coalescing: a waiter whose Vary headers differ leaves once the response's fields come, not its body", async () => {
  // The English response's body comes only once the German request has its own answer: before,
  // the German request waited for that body, then asked the origin. A second English request
  // still waits and shares the first one's response.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const o = origin((request) => {
    const language = request.headers.get("accept-language")!;
    // (Of declared length: waiters wait for such a body however long it takes.)
    const { headers } = reply(null, { ...FRESH, vary: "accept-language", "content-length": "5" });
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (language === "en") await gate;
        controller.enqueue(new TextEncoder().encode(`in ${language}`));
        controller.close();
      },
    });
    return new Response(body, { headers });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const ask = (language: string) =>
    session.fetch("http://h.test/", { headers: { "accept-language": language } }).then((r) => r.text());
  const en = ask("en");
  await until(() => o.calls === 1);
  const again = ask("en");
  equal(await within(5000, ask("de")), "in de");
  release();
  deepEqual([await en, await again], ["in en", "in en"]);
  equal(o.requests.map((request) => request.headers.get("accept-language")).join(), "en,de");
  await session.close();
});

Deno.test("coalescing: the origin request of a leader that aborted stops once its last waiter leaves on Vary", async () => {
  let respond!: () => void;
  const responding = new Promise<void>((resolve) => respond = resolve);
  const o = origin(async (request) => {
    const language = request.headers.get("accept-language")!;
    if (language === "de") return reply("in de", { ...FRESH, vary: "accept-language" });
    await responding;
    const { headers } = reply(null, { ...FRESH, vary: "accept-language", "content-length": "5" });
    // A body that comes only if someone still wants it: it fails once its request is aborted.
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) =>
        new Promise<void>((_, reject) => {
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
          if (request.signal.aborted) reject(request.signal.reason);
          void controller;
        }),
    });
    return new Response(body, { headers });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const leading = new AbortController();
  const leader = session.fetch("http://h.test/", {
    signal: leading.signal,
    headers: { "accept-language": "en" },
  });
  await until(() => o.calls === 1);
  const waiter = session.fetch("http://h.test/", { headers: { "accept-language": "de" } });
  await delay(5); // let the waiter reach the wait
  leading.abort();
  await rejects(leader, (error: unknown) => error === leading.signal.reason);
  equal(o.requests[0]!.signal.aborted, false, "the waiter still wants it");
  respond(); // its fields say it is not for the waiter, who asks the origin itself
  equal(await (await within(5000, waiter)).text(), "in de");
  equal(o.requests[0]!.signal.aborted, true, "no one wants it any more");
  await settle();
  equal(await session.cache.count(), 1, "the German response alone is stored");
  await session.close();
});

Deno.test("coalescing: a HEAD or a Range request waits for no GET still reading its body, and keeps none waiting", async () => {
  // A HEAD wants the header fields alone, a Range request some bytes. Each used to wait for a
  // GET's whole body (a download that may take minutes), and a GET that came during a HEAD waited
  // for it before asking itself.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const o = origin((request) => {
    if (request.method === "HEAD") return reply(null, { ...FRESH, "content-length": String(BODY.length) });
    if (request.headers.has("range")) {
      return reply("xxxx", { ...FRESH, "content-range": `bytes 0-3/${BODY.length}` }, { status: 206 });
    }
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await gate; // the GET's body comes only once the HEAD and the Range request have their answers
        controller.enqueue(new TextEncoder().encode(BODY));
        controller.close();
      },
    });
    const { headers } = reply(null, { ...FRESH, "content-length": String(BODY.length) });
    return new Response(body, { headers });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const got = session.fetch("http://h.test/").then((response) => response.text());
  await until(() => o.calls === 1);
  const head = await within(5000, session.fetch("http://h.test/", { method: "HEAD" }));
  equal(head.status, 200);
  equal(head.body, null);
  const part = await within(5000, session.fetch("http://h.test/", { headers: { range: "bytes=0-3" } }));
  equal(`${part.status} ${await part.text()}`, "206 xxxx");
  equal(
    o.requests.map((request) => `${request.method}${request.headers.has("range") ? "+range" : ""}`).join(),
    "GET,HEAD,GET+range",
  );
  release();
  equal((await got).length, BODY.length);
  // The other way round: a GET that comes while a HEAD or a Range request is at the origin asks
  // the origin at once.
  let answer!: () => void;
  const held = new Promise<void>((resolve) => answer = resolve);
  const p = origin(async (request) => {
    if (request.method === "HEAD" || request.headers.has("range")) await held;
    if (request.headers.has("range")) {
      return reply("xxxx", { ...FRESH, "content-range": `bytes 0-3/${BODY.length}` }, { status: 206 });
    }
    return reply(request.method === "HEAD" ? null : BODY, {
      ...FRESH,
      "content-length": String(BODY.length),
    });
  });
  const other = new CachedSession({ fetch: p.fetch });
  const asked = other.fetch("http://h.test/", { method: "HEAD" });
  const ranged = other.fetch("http://h.test/ranged", { headers: { range: "bytes=0-3" } });
  await until(() => p.calls === 2);
  for (const url of ["http://h.test/", "http://h.test/ranged"]) {
    equal((await within(5000, other.fetch(url).then((response) => response.text()))).length, BODY.length);
  }
  answer();
  equal((await asked).body, null);
  equal((await ranged).status, 206);
  equal(
    p.requests.map((r) => `${r.method} ${new URL(r.url).pathname}${r.headers.has("range") ? " range" : ""}`)
      .sort().join(),
    "GET /,GET /ranged,GET /ranged range,HEAD /",
  );
  await session.close();
  await other.close();
});

Deno.test("coalescing: on by default, off with coalesceRequests: false, validated", async () => {
  for (const coalesceRequests of [undefined, true, false]) {
    const o = origin(async () => {
      await delay(5);
      return reply("x", FRESH);
    });
    const session = new CachedSession({
      fetch: o.fetch,
      ...(coalesceRequests === undefined ? {} : { coalesceRequests }),
    });
    await Promise.all(
      Array.from({ length: 10 }, () => session.fetch("http://h.test/").then((r) => r.text())),
    );
    equal(o.calls, coalesceRequests === false ? 10 : 1, `coalesceRequests: ${coalesceRequests}`);
    await session.close();
  }
  let thrown: unknown;
  try {
    new CachedSession({ coalesceRequests: "yes" as unknown as boolean });
  } catch (error) {
    thrown = error;
  }
  ok(thrown instanceof TypeError);
  ok(/coalesceRequests must be true or false: received "yes"/.test(thrown.message), thrown.message);
});

/** A storage whose next read answers only after the next write: it read before that write. */
class LaggingStorage extends MemoryStorage {
  lagNext = false;
  lagging = 0;
  #waiting: (() => void)[] = [];
  override get(key: string): Promise<Uint8Array | undefined> {
    const answer = super.get(key);
    if (!this.lagNext) return answer;
    this.lagNext = false;
    this.lagging++;
    return new Promise((resolve) => this.#waiting.push(() => resolve(answer)));
  }
  override async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    await super.set(key, value, deleteAt);
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

Deno.test("coalescing: a request whose backend read outlasts another's whole origin request joins that request", async () => {
  const storage = new LaggingStorage();
  const o = origin(() => reply(BODY, FRESH));
  const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(storage) });
  storage.lagNext = true;
  const slow = session.fetch("http://h.test/"); // its read started before anyone went to the origin
  await until(() => storage.lagging === 1);
  const fast = await session.fetch("http://h.test/"); // leads, fetches, stores and is done
  equal(await fast.text(), BODY);
  equal(await (await slow).text(), BODY);
  equal(o.calls, 1, "the slow reader joined the finished request instead of asking again");
  await session.close();
});

Deno.test("coalescing: a lone request aborted before the origin answers aborts its origin request", async () => {
  const o = origin((request) =>
    new Promise((_resolve, reject) =>
      request.signal.addEventListener("abort", () => reject(request.signal.reason))
    )
  );
  const session = new CachedSession({ fetch: o.fetch });
  const controller = new AbortController();
  const fetched = session.fetch("http://h.test/", { signal: controller.signal });
  await until(() => o.calls === 1);
  controller.abort();
  await rejects(fetched, (error: unknown) => error === controller.signal.reason);
  equal(o.requests[0]!.signal.aborted, true, "no one wants it");
  await settle();
  await session.close();
});

for (
  const [name, options, init] of [
    ["a reload joins no request already at the origin", {}, { cache: "reload" }],
    [
      "with coalesceRequests: false, a request joins none already at the origin",
      { coalesceRequests: false },
      {},
    ],
  ] as const
) {
  Deno.test(`coalescing: ${name}`, async () => {
    const { server, release } = await gatedServer();
    const s = new CachedSession(options);
    try {
      const first = s.fetch(server.url);
      await until(() => server.hits === 1);
      const second = s.fetch(server.url, init);
      // (Bounded: on a fault the second request waits for the first, which the origin holds.)
      await within(5000, until(() => server.hits === 2)).catch(() => {});
      equal(server.hits, 2, "the second request asked the origin itself");
      release();
      const bodies = await Promise.all([first, second].map(async (r) => await (await r).text()));
      deepEqual(bodies, [BODY, BODY]);
    } finally {
      release();
      await s.close();
      await server.close();
    }
  });
}

Deno.test("coalescing: a request the shared response cannot answer without validation waits for none of its body", async () => {
  // A caller's own If-None-Match (matching or not), the no-cache mode, a max-age=0 request, a plain
  // GET of a `no-cache` response, and an only-if-cached request for one: each used to wait for
  // the leading GET's whole body, then ask the origin all the same (or answer 504). The leading
  // GETs' bodies come only once each of these has its answer; a plain GET still shares them.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const led = new Set<string>();
  const o = origin((request) => {
    const path = new URL(request.url).pathname;
    const headers = {
      "cache-control": path === "/no-cache" ? "no-cache" : "max-age=60",
      etag: '"v1"',
      "content-length": String(BODY.length),
    };
    if (request.headers.get("if-none-match") === '"v1"') return reply(null, headers, { status: 304 });
    const first = !led.has(path);
    led.add(path);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (first) await gate;
        controller.enqueue(new TextEncoder().encode(BODY));
        controller.close();
      },
    });
    return new Response(body, { headers });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const text = (url: string) => session.fetch(url).then((response) => response.text());
  const leaders = [text("http://h.test/fresh"), text("http://h.test/no-cache")];
  await until(() => o.calls === 2);
  const shared = text("http://h.test/fresh");
  const status = (url: string, init?: CacheRequestInit) =>
    within(
      5000,
      session.fetch(url, init).then(async (response) =>
        `${response.status} ${(await response.text()).length}`
      ),
    );
  // (The matching one first: the other's 200 is stored, and would answer it from the cache.)
  equal(await status("http://h.test/fresh", { headers: { "if-none-match": '"v1"' } }), "304 0");
  equal(await status("http://h.test/fresh", { headers: { "if-none-match": '"v0"' } }), `200 ${BODY.length}`);
  equal(await status("http://h.test/fresh", { cache: "no-cache" }), `200 ${BODY.length}`);
  equal(
    await status("http://h.test/fresh", { headers: { "cache-control": "max-age=0" } }),
    `200 ${BODY.length}`,
  );
  equal(await status("http://h.test/no-cache"), `200 ${BODY.length}`);
  equal(await status("http://h.test/no-cache", { headers: { "cache-control": "only-if-cached" } }), "504 0");
  release();
  deepEqual((await Promise.all([...leaders, shared])).map((body) => body.length), [
    BODY.length,
    BODY.length,
    BODY.length,
  ]);
  // The plain GET shared the first response; every other request asked the origin itself, once.
  equal(o.requests.filter((request) => new URL(request.url).pathname === "/fresh").length, 5);
  equal(o.requests.filter((request) => new URL(request.url).pathname === "/no-cache").length, 2);
  await session.close();
});
