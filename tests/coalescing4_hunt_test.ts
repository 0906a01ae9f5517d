/**
 * Request coalescing, hunted a fourth time: requests that wait on an identical one that
 * revalidates another Vary variant.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { CachedSession } from "../mod.ts";
import { delay, until, within } from "./_fixtures.ts";
import { Clock, origin, reply, settle } from "./_origin.ts";

Deno.test("coalescing4 hunt: requests that waited on a revalidation of another Vary variant share one revalidation of theirs", async () => {
  const clock = new Clock();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  let held = false;
  const o = origin(async (request) => {
    const language = request.headers.get("accept-language")!;
    const fields = { "cache-control": "max-age=10", vary: "accept-language", etag: `"${language}"` };
    if (language === "en" && held) await gate;
    else await delay(10); // the other requests arrive meanwhile
    if (request.headers.get("if-none-match") === `"${language}"`) {
      return reply(null, fields, { status: 304, clock });
    }
    return reply(`in ${language}`, fields, { clock });
  });
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn });
  const ask = (language: string) =>
    session.fetch("http://h.test/", { headers: { "accept-language": language } }).then((r) => r.text());
  deepEqual([await ask("en"), await ask("de")], ["in en", "in de"]);
  await settle();
  clock.tick(20); // both stale: revalidated
  held = true; // the English revalidation is answered once the German requests wait on it
  const english = ask("en");
  await until(() => o.calls === 3);
  const german = Array.from({ length: 5 }, () => ask("de"));
  await delay(20); // the German requests wait on the English revalidation
  open();
  equal(await within(5000, english), "in en");
  deepEqual(await within(5000, Promise.all(german)), new Array(5).fill("in de"));
  deepEqual(
    o.requests.slice(2).map((request) => request.headers.get("accept-language")),
    ["en", "de"],
    "one revalidation of each variant",
  );
  const { requests, coalesced, revalidations, misses } = session.stats();
  deepEqual({ requests, coalesced, revalidations, misses }, {
    requests: 8,
    coalesced: 4,
    revalidations: { notModified: 2, modified: 0 },
    misses: 2,
  });
  await session.close();
});

Deno.test("coalescing4 hunt: a request of a variant whose origin request is under way joins it once the other variant's request has ended", async () => {
  let releaseEnglish!: () => void;
  const english = new Promise<void>((resolve) => releaseEnglish = resolve);
  let releaseGerman!: () => void;
  const germanGate = new Promise<void>((resolve) => releaseGerman = resolve);
  const o = origin(async (request) => {
    const language = request.headers.get("accept-language")!;
    const fields = { "cache-control": "max-age=60", vary: "accept-language", "content-length": "5" };
    if (language === "de") await germanGate;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (language === "en") await english;
        controller.enqueue(new TextEncoder().encode(`in ${language}`));
        controller.close();
      },
    });
    return new Response(body, { headers: reply(null, fields).headers });
  });
  const session = new CachedSession({ fetch: o.fetch });
  const ask = (language: string) =>
    session.fetch("http://h.test/", { headers: { "accept-language": language } }).then((r) => r.text());
  const en = ask("en");
  await until(() => o.calls === 1);
  const de = [ask("de")];
  await until(() => o.calls === 2); // the German request leads its variant
  releaseEnglish();
  equal(await en, "in en");
  await settle();
  de.push(ask("de"));
  await delay(20);
  releaseGerman();
  deepEqual(await within(5000, Promise.all(de)), ["in de", "in de"]);
  equal(o.requests.map((request) => request.headers.get("accept-language")).join(), "en,de");
  const { coalesced, misses } = session.stats();
  deepEqual({ coalesced, misses }, { coalesced: 1, misses: 2 });
  await session.close();
});

/** A storage whose reads, while `hang` is set, answer what they read only once `answer()` is called. */
class HeldReads extends MemoryStorage {
  hang = false;
  held: (() => void)[] = [];
  override get(key: string): Promise<Uint8Array | undefined> {
    const read = super.get(key);
    if (!this.hang) return read;
    return new Promise((resolve) => this.held.push(() => resolve(read)));
  }
  /** Answers the oldest read held. */
  answer(): void {
    this.held.shift()?.();
  }
}

Deno.test("coalescing4 hunt: a waiter whose stale response was deleted since it read it serves it no more when the origin fails", async () => {
  // Both requests read the stale response before a delete removed it. The leader then asked the
  // origin unconditionally, as nothing is stored, and failed on its network error; the waiter
  // served the deleted response in its place (stale-if-error).
  const clock = new Clock();
  let fail!: () => void;
  const failing = new Promise<void>((resolve) => fail = resolve);
  const o = origin(async (_request, n) => {
    if (n === 1) return reply("v1", { "cache-control": "max-age=10", "content-length": "2" }, { clock });
    await failing;
    throw new TypeError("connection refused");
  });
  const storage = new HeldReads();
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    now: clock.fn,
    staleIfError: 600,
  });
  equal(await (await session.fetch("http://h.test/")).text(), "v1");
  await settle();
  clock.tick(20); // stale, within staleIfError
  storage.hang = true;
  const ask = () =>
    session.fetch("http://h.test/").then((r) => r.text(), (error) => `rejected: ${error.name}`);
  const [leading, waiting] = [ask(), ask()];
  await until(() => storage.held.length === 2);
  storage.hang = false;
  await session.cache.deleteUrls("http://h.test/"); // after both read the stale response
  storage.answer(); // the first leads
  await until(() => o.calls === 2);
  storage.answer(); // the second waits on it
  await delay(20);
  fail();
  deepEqual(await within(5000, Promise.all([leading, waiting])), [
    "rejected: TypeError",
    "rejected: TypeError",
  ]);
  await session.close();
});

Deno.test("coalescing4 hunt: a request with its own If-None-Match keeps none waiting in any cache mode: identical plain requests share one origin request", async () => {
  for (const cache of ["no-cache", "reload", "force-cache"] as const) {
    let open = () => {};
    const gate = new Promise<void>((resolve) => open = resolve);
    const o = origin(async (request) => {
      const headers = { "cache-control": "max-age=60", etag: '"v1"' };
      if (request.headers.get("if-none-match") !== '"v1"') {
        await delay(10); // the other plain requests arrive meanwhile
        return reply("whole", headers);
      }
      await gate;
      return reply(null, headers, { status: 304 });
    });
    const session = new CachedSession({ fetch: o.fetch });
    const own = session.fetch("http://h.test/", { cache, headers: { "if-none-match": '"v1"' } });
    await until(() => o.calls === 1);
    const plain = Array.from({ length: 5 }, () => session.fetch("http://h.test/").then((r) => r.text()));
    const bodies = await within(5000, Promise.all(plain));
    open();
    equal((await own).status, 304, cache);
    deepEqual(bodies, new Array(5).fill("whole"), cache);
    equal(o.calls, 2, `${cache}: the plain requests share one origin request`);
    await session.close();
  }
});
