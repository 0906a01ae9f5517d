/**
 * How a session reports what its cache did and what failed (`src/errors.ts`, `src/stats.ts`,
 * `src/callbacks.ts`, the events of `src/events.ts`, and the places that report through them):
 * behaviour that mutation testing of that code found no test for. Each test names the mutant it
 * kills.
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import {
  BackendError as OtherCopyBackendError,
  HttpCacheError as OtherCopyHttpCacheError,
} from "../src/errors.ts?copy";
import { backendError, isLocked, whileLocked } from "../src/errors.ts";
import { BackendError, CacheBackend, CachedSession, HttpCacheError } from "../mod.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { within } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";
import { tempDir } from "./_runtime.ts";

const A = "http://127.0.0.1/a";

// HttpCacheError.is is documented to tell the library's errors "also across realms and duplicate
// copies of the library, where `instanceof` fails"; `../src/errors.ts?copy` is such a copy.
// Kills src/errors.ts:35 the brand's `Object.defineProperty` dropped, :46 `BRAND in value` ->
// `value instanceof HttpCacheError`, and :46 `typeof value === "object"` or `value !== null`
// dropped (then `in` throws on a primitive or null).
Deno.test("HttpCacheError.is: the library's errors, another copy's too; no other value, null and primitives included", () => {
  const other = new OtherCopyBackendError("Cannot read redis storage: down", { backend: "redis" });
  ok(!(other instanceof HttpCacheError), "another copy's error is no instance of this copy's class");
  const errors = [
    new BackendError("Cannot read redis storage: down", { backend: "redis" }),
    new HttpCacheError("Cannot decode cache record: unknown version 9"),
    other,
    new OtherCopyHttpCacheError("x"),
  ];
  deepEqual(errors.map((error) => HttpCacheError.is(error)), [true, true, true, true]);
  const others = [new Error("x"), new TypeError("x"), { name: "BackendError" }, null, undefined, "x", 0];
  deepEqual(others.map((value) => HttpCacheError.is(value)), others.map(() => false));
});

// An error's name is what a log shows of its kind; a BackendError keeps the backend's name and the
// driver's error. Kills src/errors.ts:34 `this.name = "HttpCacheError"` and :73
// `this.name = "BackendError"` dropped.
Deno.test("errors: named HttpCacheError and BackendError; a BackendError keeps its backend and cause", () => {
  const cause = new Error("connection refused");
  const error = new BackendError("Cannot read redis storage: connection refused", {
    backend: "redis",
    cause,
  });
  deepEqual([new HttpCacheError("x").name, error.name, error.backend, error.cause], [
    "HttpCacheError",
    "BackendError",
    "redis",
    cause,
  ]);
  ok(String(error).startsWith("BackendError: Cannot read redis storage"), String(error));
});

/** A memory storage whose reads reject with an Error and whose writes with a string. */
class Refusing extends MemoryStorage {
  override get(): Promise<Uint8Array | undefined> {
    return Promise.reject(new Error("connection refused"));
  }
  override set(): Promise<void> {
    return Promise.reject("out of memory");
  }
}

// What reaches onError names the operation, the storage and the cause's message, as documented:
// `Cannot read redis storage: connection refused`; the driver's error is its cause.
// Kills src/errors.ts:100 the reason as `String(cause)` (an Error's message with its name before
// it) or as "" for a cause that is no Error, :101 the operation or the backend left out of the
// message, and backends/base.ts:562 the operation's name replaced.
Deno.test("onError: a backend failure is a BackendError that names the operation, the storage and the cause", async () => {
  const errors: unknown[] = [];
  const o = origin(() => reply("x", { "cache-control": "max-age=600" }));
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(new Refusing()),
    onError: (error) => errors.push(error),
  });
  await (await session.fetch(A)).text();
  await session.close();
  deepEqual(errors.map((error) => [error instanceof BackendError, (error as Error).message]), [
    [true, "Cannot read memory storage: connection refused"],
    [true, "Cannot write memory storage: out of memory"],
  ]);
  deepEqual([(errors[0] as Error).cause instanceof Error, (errors[1] as Error).cause], [
    true,
    "out of memory",
  ]);
});

// backendError() returns a BackendError it is given as it is, one of another copy of the library
// too: a failure wrapped twice would read "Cannot read memory storage: Cannot read memory storage: …".
// Kills src/errors.ts:99 `if (isBackendError(cause)) return cause;` dropped, or its test widened to
// `HttpCacheError.is(cause)` (an HttpCacheError that names no backend is wrapped).
Deno.test("backendError: a BackendError, of this copy or another, is returned as it is", () => {
  const own = new BackendError("Cannot read memory storage: down", { backend: "memory" });
  const other = new OtherCopyBackendError("Cannot read memory storage: down", { backend: "memory" });
  equal(backendError("memory", "read", own), own);
  equal(backendError("memory", "read", other), other);
  const wrapped = backendError("memory", "read", new HttpCacheError("not a backend's"));
  deepEqual([wrapped instanceof BackendError, wrapped.message], [
    true,
    "Cannot read memory storage: not a backend's",
  ]);
});

// whileLocked tries again while the attempt fails with SQLite's lock error: a synchronous throw
// (node:sqlite) or a rejection (Deno KV's commit) alike, with the driver's own message.
// Kills src/errors.ts:129 `return await attempt()` -> `return attempt()` (a rejection escapes the
// try), :133 `> deadline` -> `< deadline` (the first lock ends it), :131 the deadline set to now
// (`+ wait` dropped), and :112 isLocked always false.
Deno.test("whileLocked: a lock, thrown or rejected, is waited out and the attempt made again", async () => {
  for (
    const fail of [(error: Error) => {
      throw error;
    }, (error: Error) => Promise.reject(error)]
  ) {
    let attempts = 0;
    const result = await within(
      5000,
      whileLocked(() => ++attempts < 3 ? fail(new Error("database is locked")) : "done", 5000),
    );
    deepEqual([result, attempts], ["done", 3]);
  }
});

// Kills src/errors.ts:133 `!isLocked(error) ||` dropped (any error is tried again until `wait`).
Deno.test("whileLocked: an error that is no lock is thrown at once, the attempt made once", async () => {
  let attempts = 0;
  const failure = new Error("disk I/O error");
  await rejects(
    whileLocked(() => {
      attempts++;
      throw failure;
    }, 5000),
    (error) => error === failure,
  );
  equal(attempts, 1);
});

// The retries stop after `wait` ms in all (longer than the longest pause, 64 ms): the lock's error is
// thrown then, never a retry for good.
// Kills src/errors.ts:131 `deadline ??=` -> `deadline =` (the deadline moves with each attempt) and
// :133 `|| performance.now() + jittered > deadline` dropped.
Deno.test("whileLocked: a lock that outlasts the wait is thrown, not tried again for good", async () => {
  let attempts = 0;
  const locked = new Error("database is locked");
  // (The lock ends after 50 attempts, a few seconds of them: a loop that never gives up then ends.)
  const outcome = await within(
    5000,
    whileLocked(() => {
      if (++attempts > 50) return "the lock ended";
      throw locked;
    }, 100).catch((error: unknown) => error),
  );
  equal(outcome, locked);
  ok(attempts >= 2, `tried again while the wait lasted: ${attempts} attempts`);
});

// The attempts back off: 1–2 ms after the first, twice as long each time (up to 32–64 ms), so a
// lock held 100 ms costs a handful of attempts, not one per turn of the event loop. (A bound the
// pauses guarantee however slow the machine: a slower one makes fewer attempts, never more.)
// Kills src/errors.ts:127 `let pause = 1` -> `let pause = 0` (every pause 0 ms).
Deno.test("whileLocked: the attempts back off, a handful while a lock lasts 100 ms", async () => {
  let attempts = 0;
  await within(
    5000,
    rejects(whileLocked(() => {
      attempts++;
      throw new Error("database is locked");
    }, 100)),
  );
  ok(attempts >= 2 && attempts <= 12, `${attempts} attempts`);
});

// The error the runtime's SQLite driver gives while another connection holds the file's write lock
// (node:sqlite on Deno, Node and Bun) is what isLocked recognises.
// Kills src/errors.ts:112 isLocked always false.
Deno.test("isLocked: the error SQLite gives while another connection holds the lock, and no other", () => {
  const path = join(tempDir("http_cache_locked_"), "locked.db");
  const holder = new DatabaseSync(path);
  holder.exec("CREATE TABLE t (x)");
  holder.exec("BEGIN IMMEDIATE");
  const other = new DatabaseSync(path);
  try {
    other.exec("PRAGMA busy_timeout = 0");
    let thrown: unknown;
    try {
      other.exec("INSERT INTO t VALUES (1)");
    } catch (error) {
      thrown = error;
    }
    ok(thrown !== undefined, "the write failed on the lock");
    equal(isLocked(thrown), true, String(thrown));
    deepEqual([isLocked(new Error("no such table: t")), isLocked(undefined), isLocked("locked")], [
      false,
      false,
      false,
    ]);
  } finally {
    holder.exec("COMMIT");
    holder.close();
    other.close();
  }
});

// stats() is a snapshot: one taken earlier does not change with later requests, nested
// `revalidations` included. Kills src/stats.ts:94 `revalidations` as one object the counters
// update in place (a snapshot would then move with the session).
Deno.test("stats: a snapshot does not change with later requests, its revalidations included", async () => {
  const o = origin((request, n) =>
    request.headers.has("if-none-match")
      ? reply(null, { etag: '"e"', "cache-control": "max-age=0" }, { status: 304 })
      : reply(`body ${n}`, { etag: '"e"', "cache-control": "max-age=0" })
  );
  const session = new CachedSession({ fetch: o.fetch });
  await (await session.fetch(A)).text();
  const before = session.stats();
  const copy = structuredClone(before);
  await (await session.fetch(A)).text(); // revalidated: a 304
  deepEqual(session.stats().revalidations, { notModified: 1, modified: 0 });
  deepEqual(before, copy);
  await session.close();
});

// A failure's `error` event and its onError call carry the same error and the same request, the
// event first (src/monitor.ts: "Records a failed cache operation (before it is given to
// `onError`)"). Kills src/cache_access.ts:452 `this.#monitor.failed(...)` moved after the onError
// call.
Deno.test("onEvent and onError: a failure's error event comes first, with the same error and request", async () => {
  const seen: [string, unknown, string][] = [];
  const o = origin(() => reply("x", { "cache-control": "max-age=600" }));
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(new Refusing()),
    onError: (error, context) => seen.push(["onError", error, `${context.operation} ${context.request}`]),
    onEvent: (event) => {
      if (event.type === "error") seen.push(["event", event.error, `${event.operation} ${event.request}`]);
    },
  });
  await (await session.fetch(A)).text();
  await session.close();
  deepEqual(seen.map(([kind, , what]) => `${kind}: ${what}`), [
    `event: read GET ${A}`,
    `onError: read GET ${A}`,
    `event: write GET ${A}`,
    `onError: write GET ${A}`,
  ]);
  ok(seen[0]![1] === seen[1]![1] && seen[2]![1] === seen[3]![1], "the same error");
});

// A request whose key is not worked out yet (keyFn threw) is reported by its method and URL, the
// ignored parameters left out, as every other report names its request.
// Kills src/cache_access.ts:451 `this.labelOf(request)` -> `request.label ?? ""`.
Deno.test("onError: a failure before the key is worked out names the request, its ignored parameters left out", async () => {
  const reports: string[] = [];
  const o = origin(() => reply("x", { "cache-control": "max-age=600" }));
  const session = new CachedSession({
    fetch: o.fetch,
    ignoredParameters: ["api_key"],
    keyFn: () => {
      throw new Error("keyFn bug");
    },
    onError: (_error, context) => reports.push(`${context.operation} ${context.request}`),
  });
  equal(await (await session.fetch(`${A}?api_key=SECRET&page=1`)).text(), "x");
  await session.close();
  deepEqual(reports, [`read GET ${A}?page=1`]);
});

// Once closed, a read still under way that then fails "fails for the closing": it is not reported
// (docs/reliability.md: "no read or write of it fails"), and its request goes to the origin.
// Kills src/cache_access.ts:450 `if (this.#closed && operation !== "delete") return;` dropped.
Deno.test("close: a read under way when the session closed, that then fails, is not reported", async () => {
  let fail: (error: Error) => void = () => {};
  let reading: () => void = () => {};
  const asked = new Promise<void>((resolve) => reading = resolve);
  const storage = new MemoryStorage();
  storage.get = () => {
    reading();
    return new Promise((_resolve, reject) => fail = reject);
  };
  const errors: unknown[] = [];
  const o = origin(() => reply("x", { "cache-control": "max-age=600" }));
  const session = new CachedSession({
    fetch: o.fetch,
    backend: new CacheBackend(storage),
    onError: (error) => errors.push(error),
  });
  const response = session.fetch(A);
  await within(5000, asked);
  await within(5000, session.close());
  fail(new Error("the database is closed"));
  equal(await (await within(5000, response)).text(), "x");
  deepEqual([errors, session.stats().backendErrors], [[], 0]);
});

// Without an onError handler, each failure is one console.warn that names the operation and the
// request and gives the error itself, whose message and cause say what failed.
// Kills src/options.ts:291 the error left out of the warning.
Deno.test("onError by default: one console.warn per failure, with the error", async () => {
  const warned: unknown[][] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args);
  try {
    const o = origin(() => reply("x", { "cache-control": "max-age=600" }));
    const session = new CachedSession({ fetch: o.fetch, backend: new CacheBackend(new Refusing()) });
    await (await session.fetch(A)).text();
    await session.close();
  } finally {
    console.warn = warn;
  }
  deepEqual(warned.map((args) => [String(args[0]), args.slice(1).map((arg) => (arg as Error).message)]), [
    [`http-cache: read failed for GET ${A}:`, ["Cannot read memory storage: connection refused"]],
    [`http-cache: write failed for GET ${A}:`, ["Cannot write memory storage: out of memory"]],
  ]);
});

/**
 * A backend as another copy of the library builds it (a session takes a backend by its shape: one
 * copy from npm, one from JSR, say): what it rejects with is that copy's BackendError.
 */
function builtByAnotherCopy(backend: CacheBackend): CacheBackend {
  return new Proxy(backend, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          if (!(error instanceof BackendError)) throw error;
          throw new OtherCopyBackendError(error.message, { backend: error.backend, cause: error.cause });
        });
      };
    },
  });
}

// BUG (fixed by src/errors.ts isBackendError): the session told a BackendError by `instanceof`,
// which fails for the errors of a backend another copy of the library built. Its corrupt records
// then counted as failed reads (three in a row rested the backend: the fourth response was not
// stored) and made no `evict corrupt` event, and its failures were left out of `backendErrors`,
// though each reached onError (docs/reliability.md: "a corrupt record is no failure of the
// backend"; docs/inspection.md: backendErrors counts "backend failures, each also given to
// onError"). Kills src/cache_access.ts:95 and src/monitor.ts:226 `isBackendError(error)` ->
// `error instanceof BackendError`.
Deno.test("a backend another copy of the library built: its corrupt records are evicted, no failure of it, and its errors count in backendErrors", async () => {
  const o = origin((_request, n) => reply(`body ${n}`, { "cache-control": "max-age=600" }));
  const storage = new MemoryStorage();
  const events: string[] = [];
  const errors: unknown[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    backend: builtByAnotherCopy(new CacheBackend(storage)),
    onError: (error) => errors.push(error),
    onEvent: (event) => events.push(event.type === "evict" ? `evict ${event.reason}` : event.type),
  });
  const urls = [1, 2, 3, 4].map((i) => `${A}?${i}`);
  const keys: string[] = [];
  for (const url of urls) {
    const response = await session.fetch(url);
    await response.text();
    keys.push(response.cacheKey!);
  }
  for (const key of keys) await storage.set(key, new Uint8Array([1, 2, 3]), Infinity);
  events.length = 0;
  for (const url of urls) await (await session.fetch(url)).text();
  deepEqual(events, urls.flatMap(() => ["evict corrupt", "error", "miss", "store"]));
  equal(errors.length, 4);
  ok(errors.every((error) => HttpCacheError.is(error) && !(error instanceof BackendError)), String(errors));
  equal(session.stats().backendErrors, 4);
  await session.close();
});
