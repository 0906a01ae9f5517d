/**
 * Mutation testing of the fifth session's changes (corrupt records, deletes under way, userinfo in
 * aliases, rfc850 dates, MongoDB deletes): behaviour that no test checked. Each test names the
 * mutants it kills.
 *
 * @module
 */

import { deepEqual, equal, notEqual, ok, rejects } from "node:assert/strict";
import { MongoClient } from "mongodb";
import { CorruptRecordError as OtherCopyCorruptRecordError } from "../src/errors.ts?copy";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { MongoDBStorage, type MongoRecord } from "../backends/mongodb.ts";
import { BackendError, CachedSession, CorruptRecordError } from "../mod.ts";
import { parseHttpDate } from "../src/cache_control.ts";
import { NotFoundError, show } from "../src/cli/commands.ts";
import type { Invocation } from "../src/cli/args.ts";
import { recorder } from "./_cli.ts";
import { until, within } from "./_fixtures.ts";
import { reply } from "./_origin.ts";
import { followingSession, Gated } from "./_scripted.ts";
import { serviceUrl } from "./_services.ts";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const DAY_MS = 86_400_000;
const YEAR_MS = 365.2425 * DAY_MS;

/** An rfc850-date of a time, with the day name given. */
function rfc850(time: number, dayName: string): string {
  const [, dd, mon, yyyy, hms] = new Date(time).toUTCString().split(" ");
  return `${dayName}, ${dd}-${mon}-${yyyy!.slice(-2)} ${hms} GMT`;
}

/** The time a century before. */
function centuryBefore(time: number): number {
  const before = new Date(time);
  before.setUTCFullYear(before.getUTCFullYear() - 100);
  return before.getTime();
}

// On every weekday, not only today's: a date in the coming 50 years is read a century before only
// when the day name is that century's, and a past date keeps its year whatever its day name.
// Kills src/cache_control.ts:298 WEEKDAYS reordered (Sunday and Monday swapped), and :234 the
// `time <= now` check dropped (a past date with the century before's day name read there).
Deno.test("an rfc850-date is read by its day name on each of the seven weekdays, and a past one keeps its year", () => {
  const start = Math.floor((Date.now() + 40 * YEAR_MS) / 1000) * 1000;
  for (let i = 0; i < 7; i++) {
    const ahead = start + i * DAY_MS;
    const before = centuryBefore(ahead);
    const own = DAYS[new Date(ahead).getUTCDay()]!;
    const past = DAYS[new Date(before).getUTCDay()]!;
    equal(parseHttpDate(rfc850(ahead, own)), ahead, rfc850(ahead, own));
    equal(parseHttpDate(rfc850(ahead, past)), before, rfc850(ahead, past));
    equal(parseHttpDate(rfc850(ahead, past).toLowerCase()), before, "day names in any case");
  }
  const ago = Math.floor((Date.now() - 10 * YEAR_MS) / 1000) * 1000;
  for (let i = 0; i < 7; i++) {
    const time = ago + i * DAY_MS;
    const past = DAYS[new Date(centuryBefore(time)).getUTCDay()]!;
    equal(parseHttpDate(rfc850(time, past)), time, rfc850(time, past));
  }
});

/** A memory storage whose reads reject with the error `failure` gives, while it gives one. */
class FailingReads extends MemoryStorage {
  failure: (() => Error) | undefined;
  override get(key: string): Promise<Uint8Array | undefined> {
    return this.failure === undefined ? super.get(key) : Promise.reject(this.failure());
  }
}

// A custom storage built on another copy of the library (a duplicate in node_modules, another
// realm) says a record is corrupt with that copy's CorruptRecordError: a miss, not a storage that
// fails (whose reads would rest after three). Kills src/errors.ts:142 `CORRUPT in value` ->
// `value instanceof CorruptRecordError`, :104 `Symbol.for(…)` -> `Symbol(…)`, and :130 the name
// dropped.
Deno.test("a storage rejecting reads with another copy's CorruptRecordError misses, and no read rests", async () => {
  const other = new OtherCopyCorruptRecordError("Cannot read entry:a: its second part is missing");
  ok(!(other instanceof CorruptRecordError), "another copy's error is no instance of this copy's class");
  ok(CorruptRecordError.is(other));
  ok(other instanceof SyntaxError);
  equal(new CorruptRecordError("x").name, "CorruptRecordError");
  ok(String(other).startsWith("CorruptRecordError: Cannot read entry:a"), String(other));
  const storage = new FailingReads();
  storage.failure = () => new OtherCopyCorruptRecordError("Cannot read the record: a part is missing");
  const errors: unknown[] = [];
  let calls = 0;
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    fetch: () => Promise.resolve(reply(`r${++calls}`, { "cache-control": "max-age=600" })),
    onError: (error) => errors.push(error),
  });
  try {
    for (let i = 0; i < 5; i++) {
      const response = await session.fetch(`http://127.0.0.1/session5/corrupt/${i}`);
      equal(response.fromCache, false);
      await response.body?.cancel();
    }
    // (Five reads reported, each as corrupt: a failing storage's would rest after three.)
    deepEqual(errors.map((error) => CorruptRecordError.is((error as BackendError).cause)), [
      true,
      true,
      true,
      true,
      true,
    ]);
  } finally {
    await session.close();
  }
});

/** A `show` of a key, as the CLI runs it. */
function showKey(cache: CacheBackend, key: string) {
  const run: Invocation = {
    cache: "memory:",
    command: "show",
    positionals: [key],
    json: false,
    expired: false,
    valid: false,
    urlPattern: undefined,
    olderThan: undefined,
    limit: undefined,
    body: false,
    yes: false,
  };
  return show({ cache, label: "memory:", run, io: recorder(["show", key]), now: Date.now() });
}

// `show KEY` on a storage that fails says so (a failure, exit 1 with the storage's error), not
// "Nothing is stored": only a corrupt record is a record not there. Kills src/cli/commands.ts:220
// `CorruptRecordError.is(cause)` -> `cause instanceof SyntaxError`.
Deno.test("cli show of a key: a storage whose reads reject with a SyntaxError fails; a corrupt record is nothing stored", async () => {
  const storage = new FailingReads();
  const cache = new CacheBackend(storage);
  try {
    storage.failure = () => new SyntaxError(`Unexpected token '<', "<html>" is not valid JSON`);
    await rejects(showKey(cache, "GET http://127.0.0.1/a"), (error) => {
      ok(!(error instanceof NotFoundError), String(error));
      ok(error instanceof BackendError, String(error));
      return true;
    });
    storage.failure = () => new CorruptRecordError("Cannot read the record: a part is missing");
    await rejects(showKey(cache, "GET http://127.0.0.1/a"), NotFoundError);
  } finally {
    await cache.close();
  }
});

const URL_A = "http://127.0.0.1/session5/a";

/** An origin whose resources keep one ETag, and whose bodies count the full responses sent. */
function counting() {
  let sent = 0;
  const seen: (string | null)[] = [];
  const fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    seen.push(request.headers.get("if-none-match"));
    const headers = { "cache-control": "max-age=60", etag: '"same"' };
    if (request.headers.get("if-none-match") === '"same"') {
      return Promise.resolve(new Response(null, { status: 304, headers }));
    }
    return Promise.resolve(new Response(`r${++sent}`, { headers }));
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

async function served(session: CachedSession, url = URL_A, init?: RequestInit): Promise<string> {
  const response = await session.fetch(url, init);
  return `${await response.text()}:${response.fromCache}`;
}

// A stored response read while a delete of its URL is under way is gone for the request that read
// it, however many other deletes began after that one, or ended before it: its 304 writes nothing
// back. Kills src/invalidations.ts:112 `#deleting[0]` -> `#deleting.at(-1)` (the newest delete
// under way), and :129 the splice -> `#deleting.shift()` (a later delete that ends first takes the
// earlier's place).
Deno.test("a 304 for an entry read while its deleteUrls is held, after later deletes of other URLs began or ended, does not write it back", async () => {
  const storage = new Gated();
  const { fetch } = counting();
  const session = new CachedSession({ fetch, backend: new CacheBackend(storage) });
  try {
    equal(await served(session), "r1:false");
    const releaseA = storage.holdNextDelete();
    const removingA = session.cache.deleteUrls(URL_A);
    await within(2000, until(() => storage.waiting === 1));
    const releaseB = storage.holdNextDelete();
    const removingB = session.cache.deleteUrls(`${URL_A}/b`);
    await within(2000, until(() => storage.waiting === 2));
    const releaseC = storage.holdNextDelete();
    const removingC = session.cache.deleteUrls(`${URL_A}/c`);
    await within(2000, until(() => storage.waiting === 3));
    releaseB();
    await within(2000, removingB);
    const releaseRead = storage.holdNextRead();
    const revalidating = served(session, URL_A, { cache: "no-cache" });
    await within(2000, until(() => storage.waiting === 3));
    releaseA();
    await within(2000, removingA);
    releaseRead();
    await within(2000, revalidating);
    releaseC();
    await within(2000, removingC);
    await within(5000, session.close());
    const after = new CachedSession({ fetch, backend: new CacheBackend(storage) });
    try {
      notEqual((await served(after)).split(":")[0], "r1", "the deleted response is not served");
    } finally {
      await after.close();
    }
  } finally {
    await session.close();
  }
});

// Once a delete has ended, what is stored again afterwards revalidates as any: a no-cache request
// sends its ETag and is answered by the stored response. Kills src/invalidations.ts:129 the
// splice dropped (every read after the first delete counted as read before it: no validators).
Deno.test("after a deleteUrls has ended, an entry stored again revalidates with its validators", async () => {
  const { fetch, seen } = counting();
  const session = new CachedSession({ fetch, backend: new CacheBackend(new MemoryStorage()) });
  try {
    equal(await served(session), "r1:false");
    await session.cache.deleteUrls(URL_A);
    equal(await served(session), "r2:false");
    equal(await served(session, URL_A, { cache: "no-cache" }), "r2:true");
    deepEqual(seen, [null, null, '"same"']);
  } finally {
    await session.close();
  }
});

// Where fetch followed a redirect to another origin, it sent the request's userinfo to none of
// it: what it got there is what anyone gets, and the alias serves it to requests for that URL.
// Kills src/lookup.ts:362 the same-origin condition dropped (the alias keyed with the userinfo).
Deno.test("what a fetch with userinfo reached on another origin without it is served through its alias there", async () => {
  const { session, get, calls } = followingSession(() => "http://127.0.0.2/b");
  try {
    equal(await get("http://alice:secret@127.0.0.1/a"), "false b for :");
    equal(await get("http://127.0.0.2/b"), "true b for :");
    equal(calls(), 1);
  } finally {
    await session.close();
  }
});

// What fetch reached with userinfo other than the request's (another origin's, another user's,
// another password) is not stored: the alias would lead there requests without those credentials.
// Kills src/store_plan.ts:344 the origin check dropped, :344 the username check dropped, and :345 the
// password check dropped.
for (
  const to of [
    "http://alice:secret@127.0.0.2/b",
    "http://bob:secret@127.0.0.1/b",
    "http://alice:other@127.0.0.1/b",
  ]
) {
  Deno.test(`what a fetch from alice:secret reached at ${to} is neither stored nor served through an alias`, async () => {
    const { session, get, calls } = followingSession(() => to);
    const reachedAt = new URL(to);
    const theirs = `b for ${reachedAt.username}:${reachedAt.password}`;
    try {
      equal(await get("http://alice:secret@127.0.0.1/a"), `false ${theirs}`);
      reachedAt.username = "alice";
      reachedAt.password = "secret";
      const asAlice = reachedAt.origin === "http://127.0.0.1" ? reachedAt.href : `http://${reachedAt.host}/b`;
      equal(await get(asAlice), `false b for ${new URL(asAlice).username}:${new URL(asAlice).password}`);
      equal(await get("http://alice:secret@127.0.0.1/a"), `false ${theirs}`, "not stored");
      equal(calls(), 3);
    } finally {
      await session.close();
    }
  });
}

// An `@` in the path or query of where fetch led is no userinfo: the response is stored. Kills
// src/store_plan.ts:343 `!hasUserinfo(url) ||` dropped.
Deno.test("what a fetch reached at a URL with @ in its path, on another origin, is stored", async () => {
  const { session, get, calls } = followingSession(() => "http://127.0.0.2/b/@alice?to=x@y");
  try {
    equal(await get("http://127.0.0.1/a"), "false b for :");
    equal(await get("http://127.0.0.1/a"), "true b for :");
    equal(calls(), 1);
  } finally {
    await session.close();
  }
});

const mongo = serviceUrl("MONGODB_URL");

// Keys go in as few deletes as 8 MiB of characters each allow: 1,000 keys of 20,000 characters
// take 3 commands, not one for each key after the first batch. Kills backends/mongodb.ts:473
// `characters = 0` dropped.
Deno.test({
  name: "mongodb: a delete of a thousand 20,000-character keys takes three commands",
  ignore: mongo.skip !== undefined,
  async fn() {
    const client = await new MongoClient(mongo.url!, { monitorCommands: true }).connect();
    const records = client.db("http_cache_test").collection<MongoRecord>(
      `session5_${crypto.randomUUID().slice(0, 8)}`,
    );
    const storage = new MongoDBStorage({ collection: records });
    let deletes = 0;
    client.on("commandStarted", (event) => {
      if (event.commandName === "delete") deletes++;
    });
    try {
      const keys = Array.from({ length: 1000 }, (_, i) => `${i}`.padEnd(20_000, "x"));
      await storage.delete(keys);
      equal(deletes, 3);
    } finally {
      await storage.close();
      await records.drop().catch(() => {});
      await client.close();
    }
  },
});

// A reload HEAD's response freshens the stored GET response the reload would have selected
// (RFC 9111 §4.3.5): one that a delete removed after the reload read it is gone, and the HEAD
// response does not write it back. Kills src/exchange.ts:90 `stale?.entry ?? stale?.replaced` ->
// `stale?.entry` (what a reload replaces never checked against the deletes since its read).
Deno.test("a reload HEAD for an entry read just before deleteUrls does not write it back", async () => {
  const storage = new Gated();
  const { fetch } = counting();
  const session = new CachedSession({ fetch, backend: new CacheBackend(storage) });
  try {
    equal(await served(session), "r1:false");
    const release = storage.holdNextRead();
    const revalidating = served(session, URL_A, { method: "HEAD", cache: "reload" });
    await within(2000, until(() => storage.waiting === 1));
    await within(2000, session.cache.deleteUrls(URL_A));
    release();
    await within(2000, revalidating);
    await within(5000, session.close());
    const after = new CachedSession({ fetch, backend: new CacheBackend(storage) });
    try {
      notEqual((await served(after)).split(":")[0], "r1", "the deleted response is not served");
    } finally {
      await after.close();
    }
  } finally {
    await session.close();
  }
});
