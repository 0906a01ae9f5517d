/**
 * Hunt for bugs in caching requests with bodies (`allowedMethods` with `POST`): how each body is
 * keyed, and the body still reaching the origin when the cache could not key it.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { CachedSession, createCacheKey } from "../mod.ts";
import { within } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";

const encoder = new TextEncoder();

/** A stream of these texts, one chunk each, then closed. */
function streamOf(...texts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const text of texts) controller.enqueue(encoder.encode(text));
      controller.close();
    },
  });
}

Deno.test("post hunt: a JSON or form body never shares a key with a raw body of its canonical bytes", async () => {
  // docs/cache-keys.md: "A key never merges two requests that an origin could tell apart by their
  // bytes". A JSON body was keyed as its canonical text, and a form as its sorted parameters, with
  // no mark: a text/plain body of those bytes (which an origin reads otherwise) got the same key,
  // one with an ignored field (a secret) too.
  const options = { ignoredParameters: new Set(["api_key"]), matchHeaders: [] };
  const key = (body: string, type: string) =>
    createCacheKey({
      method: "POST",
      url: new URL("http://127.0.0.1/search"),
      headers: new Headers({ "content-type": type }),
      body: encoder.encode(body),
    }, options);
  const pairs: [string, string, string][] = [
    ['{"b":1,"a":2}', "application/json", '{"a":2,"b":1}'],
    ['{"q":"x","api_key":"secret"}', "application/json", '{"q":"x"}'],
    ["b=2&a=1", "application/x-www-form-urlencoded", "a=1&b=2"],
    ["q=x&api_key=secret", "application/x-www-form-urlencoded", "q=x"],
  ];
  const shared = [];
  for (const [body, type, raw] of pairs) {
    for (const rawType of ["text/plain", "application/octet-stream"]) {
      if (await key(body, type) === await key(raw, rawType)) {
        shared.push(`${body} as ${type} = ${raw} as ${rawType}`);
      }
    }
  }
  deepEqual(shared, []);
  // (What canonicalising is for still holds: reordered JSON and forms share a key.)
  equal(await key('{ "a": 2, "b": 1 }', "application/json"), await key('{"b":1,"a":2}', "application/json"));
  equal(
    await key("a=1&b=2", "application/x-www-form-urlencoded"),
    await key("b=2&a=1", "application/x-www-form-urlencoded"),
  );
});

Deno.test("post hunt: a JSON POST is not answered with what a text/plain POST of the same bytes got", async () => {
  // The same bug end to end: the origin answers by the Content-Type (as a JSON API answers a
  // body it cannot parse as JSON with a 415), and the cache served one answer for the other.
  const o = origin((request) => {
    const json = request.headers.get("content-type") === "application/json";
    return reply(json ? "parsed as JSON" : "not JSON", { "cache-control": "max-age=600" });
  });
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  const post = async (type: string) => {
    const response = await session.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": type },
      body: '{"query":"{ a }"}',
    });
    return await response.text();
  };
  try {
    equal(await post("text/plain"), "not JSON");
    equal(await post("application/json"), "parsed as JSON");
    equal(o.calls, 2);
  } finally {
    await session.close();
  }
});

Deno.test("post hunt: a stream body still reaches the origin when keyFn fails", async () => {
  // docs/cache-keys.md: an error keyFn throws (or a key it may not give) "reaches onError
  // (operation read) and the request goes to the origin uncached". With a stream body (in the
  // init, or overriding a Request's) the request was sent with the caller's init, whose stream the
  // cache had taken to key it: fetch rejected with "ReadableStream is locked or disturbed".
  const o = origin(async (request) => reply(`got ${await request.text()}`));
  const errors: unknown[] = [];
  for (const keyFn of [() => Promise.reject(new Error("keyFn failed")), () => "~not a key"]) {
    const session = new CachedSession({
      fetch: o.fetch,
      allowedMethods: ["GET", "POST"],
      keyFn,
      onError: (error) => void errors.push(error),
    });
    try {
      const direct = await session.fetch("http://127.0.0.1/upload", {
        method: "POST",
        body: streamOf("hello ", "world"),
        duplex: "half",
      } as RequestInit);
      equal(await direct.text(), "got hello world");
      const overriding = await session.fetch(
        new Request("http://127.0.0.1/upload", { method: "POST", body: "replaced" }),
        { body: streamOf("over", "ride"), duplex: "half" } as RequestInit,
      );
      equal(await overriding.text(), "got override");
    } finally {
      await session.close();
    }
  }
  equal(errors.length, 4);
});

Deno.test("post hunt: aborting while the cache reads a stream body for its key rejects, and cancels the body", async () => {
  // fetch rejects with the signal's reason when the caller aborts during the upload. The cache
  // read the whole body for the key first, without regard to the signal: a body still coming
  // (a stream not yet closed) kept the call pending forever, and the stream was never cancelled.
  const o = origin(() => reply("never"));
  const session = new CachedSession({ fetch: o.fetch, allowedMethods: ["GET", "POST"] });
  let cancelled = false;
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(encoder.encode("first chunk"));
        return;
      }
      return new Promise(() => {}); // the rest never comes
    },
    cancel() {
      cancelled = true;
    },
  });
  const controller = new AbortController();
  const reason = new Error("the caller gave up");
  try {
    const pending = session.fetch("http://127.0.0.1/upload", {
      method: "POST",
      body,
      duplex: "half",
      signal: controller.signal,
    } as RequestInit);
    // Once the cache has read what has come, the caller aborts.
    await new Promise((resolve) => setTimeout(resolve, 0));
    controller.abort(reason);
    const outcome = await within(5000, pending.then(() => "resolved", (error) => error));
    equal(outcome, reason);
    equal(cancelled, true);
    equal(o.calls, 0);
  } finally {
    await session.close();
  }
});

Deno.test("post hunt: a body stream that errors fails the request with its error, and is no failure of the cache", async () => {
  // fetch fails with the body's own error. The cache, having read the stream for the key, sent the
  // caller's init again: fetch rejected with "ReadableStream is locked or disturbed", and the
  // caller's failing body was reported to onError as a failure of the cache.
  const broke = new Error("the upload broke");
  const o = origin(async (request) => reply(`got ${await request.text()}`));
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    allowedMethods: ["GET", "POST"],
    onError: (error) => void errors.push(error),
  });
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(encoder.encode("part"));
      controller.error(broke);
    },
  });
  try {
    const outcome = await within(
      5000,
      session.fetch("http://127.0.0.1/upload", { method: "POST", body, duplex: "half" } as RequestInit)
        .then((response) => response.text()).then(() => undefined, (error) => error),
    );
    ok(outcome === broke || (outcome as Error | undefined)?.cause === broke, String(outcome));
    deepEqual(errors, []);
  } finally {
    await session.close();
  }
});
