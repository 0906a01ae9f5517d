/**
 * The Deno KV backend at KV's limits and in its failure paths, on `Deno.openKv` (Deno) and
 * `@deno/kv` (Node, Bun).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { DenoKVBackend, type DenoKVStorage } from "../backends/deno_kv.ts";
import { origin, reply } from "./_origin.ts";
import { openKv } from "./_fixtures.ts";

const KiB = 1024;

// Was: a key over KV's 2 KiB key limit (a `keyFn` that adds a long URL or header, as
// docs/cache-keys.md shows) failed every read and write of it with "Key too large", reported to
// onError; three in a row rested the session's breaker, so other URLs were not served either.
Deno.test("deno-kv: a keyFn key longer than KV's 2 KiB key limit is stored, listed and deleted as any other", async () => {
  const backend = new DenoKVBackend({ path: ":memory:" });
  const bodies = new Map<string, string>();
  const server = origin((request) => {
    const body = bodies.get(request.url)!;
    return reply(body, { "cache-control": "max-age=600" });
  });
  const errors: string[] = [];
  const session = new CachedSession({
    backend,
    fetch: server.fetch,
    keyFn: async (request, defaultKey) => `${await defaultKey()}:${encodeURIComponent(request.url.href)}`,
    onError: (error) => void errors.push(String(error)),
  });
  try {
    const long = `http://127.0.0.1/search?q=${"a".repeat(3000)}`;
    // Two URLs that differ only past KV's limit, one with a chunked body (their keys differ from the
    // start, a digest of the URL: today_mutants_test.ts tests keys that differ only past the limit).
    const urls = [`${long}&page=1`, `${long}&page=2`, "http://127.0.0.1/short"];
    bodies.set(urls[0]!, "first");
    bodies.set(urls[1]!, "x".repeat(200 * KiB));
    bodies.set(urls[2]!, "short");
    for (const url of urls) equal(await (await session.fetch(url)).text(), bodies.get(url));
    for (const url of urls) {
      const response = await session.fetch(url);
      equal(await response.text(), bodies.get(url), url.slice(-10));
      ok(response.fromCache, `${url.slice(-10)} was not served from the cache`);
    }
    equal(server.calls, 3);
    deepEqual(errors, []);
    equal(await backend.count(), 3);
    const listed = await Array.fromAsync(backend.responses());
    deepEqual(listed.map((response) => response.url).sort(), [...urls].sort());
    for (const response of listed) ok(await backend.get(response.cacheKey!), "a listed key does not read");
    await backend.deleteUrls(urls[1]!);
    deepEqual((await backend.urls()).sort(), [urls[0], urls[2]].sort());
    ok((await session.fetch(urls[0]!)).fromCache);
    equal(await (await session.fetch(urls[1]!)).text(), bodies.get(urls[1]!));
    equal(server.calls, 4);
    deepEqual(errors, []);
  } finally {
    await session.close();
  }
});

// Was: a record whose chunks were partly gone (another handle's clear() deletes a record's chunks
// before its manifest, as it lists them, and a write of it can commit in between) read as a miss
// but stayed: counted and listed for good, and no delete that reads records (deleteUrls,
// deleteExpired, a urlPattern) could remove it, nor its remaining chunks.
Deno.test("deno-kv: a record left with part of its chunks is removed on read, not counted for good", async () => {
  const kv = await openKv(":memory:");
  const backend = new DenoKVBackend({ kv });
  const session = new CachedSession({
    backend,
    fetch: () => Promise.resolve(reply("x".repeat(300 * KiB), { "cache-control": "max-age=600" })),
  });
  try {
    const url = "http://127.0.0.1/large";
    await (await session.fetch(url)).text();
    const chunkPrefix = [...(backend.storage as DenoKVStorage).prefix, "chunk"];
    const chunks = [];
    for await (const { key } of kv.list({ prefix: chunkPrefix })) chunks.push(key);
    ok(chunks.length > 2, "the record is chunked");
    await kv.atomic().delete(chunks[0]!).commit();
    equal(await backend.count(), 1);
    deepEqual(await backend.urls(), []);
    await backend.deleteUrls(url);
    equal(await backend.count(), 0, "the damaged record is still listed");
    const left = [];
    for await (const { key } of kv.list({ prefix: (backend.storage as DenoKVStorage).prefix })) {
      left.push(key);
    }
    deepEqual(left, [], "its remaining chunks stayed");
    const response = await session.fetch(url);
    equal((await response.text()).length, 300 * KiB);
    ok(!response.fromCache);
  } finally {
    await session.close();
    kv.close();
  }
});
