/**
 * Memory and resources held past their use in a long-running process: what a response kept after
 * its body was read holds, and what keeps a process alive once its session is closed. Garbage
 * collection and process exit are what they are about, so each scenario runs in a process of its
 * own (the collector exposed), started from code given on its command line.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { within } from "./_fixtures.ts";
import { runCollecting, RUNTIME } from "./_runtime.ts";

/**
 * 20 responses for each way of reading a body, each kept after its body was read; the storage
 * forgets each record as it is written, and counts those of its records still in memory.
 */
const KEPT_RESPONSES = `
const { CachedSession } = await import(ROOT + "mod.ts");
const { CacheBackend } = await import(ROOT + "backends/base.ts");
const gc = globalThis.gc ?? (() => globalThis.Bun.gc(true));
const text = "x".repeat(20_000);
const out = {};
for (const mode of ["streamed", "text with a signal", "cancelled", "declared length"]) {
  const count = { kept: 0 };
  const registry = new FinalizationRegistry(() => count.kept--);
  const storage = {
    name: "forgetful",
    get: async () => undefined,
    set: async (_key, value) => {
      count.kept++;
      registry.register(value.buffer, undefined);
    },
    delete: async () => {},
    keys: async function* () {},
    clear: async () => {},
    close: async () => {},
  };
  const controller = new AbortController();
  const session = new CachedSession({
    backend: new CacheBackend(storage),
    fetch: async () => {
      const headers = { "cache-control": "max-age=600" };
      if (mode === "declared length") headers["content-length"] = String(text.length);
      return new Response(mode === "declared length" ? text : new Blob([text]).stream(), { headers });
    },
  });
  const kept = [];
  for (let i = 0; i < 20; i++) {
    const init = mode === "text with a signal" ? { signal: controller.signal } : {};
    const response = await session.fetch("http://127.0.0.1/" + i, init);
    if (mode === "text with a signal") await response.text();
    else if (mode === "cancelled") {
      await new Promise((resolve) => setTimeout(resolve, 5)); // the cache reads it to its end
      await response.body.cancel();
    } else {
      const reader = response.body.getReader();
      while (!(await reader.read()).done);
    }
    kept.push(response);
  }
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  out[mode] = count.kept;
  await session.close();
}
console.log(JSON.stringify(out));
`;

// A response kept after its streamed body was read, or cancelled, held the cache's read of the
// whole body (offered for text() and the like, never taken) and with it what the cache collected
// of the body and wrote; one read by text() with an abort signal held it through what the signal's
// abort would have done: a process that keeps responses (a log, a memo of its own) held up to
// four times their bodies.
Deno.test("a response kept after its body was read holds none of what the cache collected of the body", async () => {
  const child = runCollecting(KEPT_RESPONSES);
  try {
    const { code, stdout, stderr } = await within(60_000, child.exited);
    equal(code, 0, stderr);
    const kept = JSON.parse(stdout) as Record<string, number>;
    // Bun's collector scans the stack conservatively, and may keep one or two a while longer;
    // held by the responses, all 20 are kept.
    const allowed = RUNTIME === "bun" ? 3 : 0;
    const over = Object.entries(kept).filter(([, records]) => records > allowed);
    deepEqual(over, [], `records of 20 still in memory, by how the body was read (at most ${allowed})`);
  } finally {
    child.kill("SIGKILL");
  }
});

/** A stale response served, its refresh left unanswered by the origin, then the session closed. */
const HUNG_REFRESH = `
const { CachedSession } = await import(ROOT + "mod.ts");
let n = 0;
const session = new CachedSession({
  staleWhileRevalidate: 60,
  onError: () => {},
  fetch: (_input, init) =>
    ++n === 1
      ? Promise.resolve(new Response("v1", { headers: { "cache-control": "max-age=0" } }))
      : new Promise(() => {}), // never answers, and does not follow the signal
});
await (await session.fetch("http://127.0.0.1/r")).text();
await (await session.fetch("http://127.0.0.1/r")).text(); // stale, and a refresh
await session.close();
console.log(n);
`;

// On Deno, a signal that follows an AbortSignal.timeout keeps the process alive while a listener
// is on it, even once another source has aborted it: close() aborted the refresh, and the cache's
// own listeners on its signal (the fetch here ignores it) then kept the process for the refresh's
// 30 s time limit.
Deno.test("a process ends once its session is closed, while a background refresh was unanswered", async () => {
  const child = runCollecting(HUNG_REFRESH);
  try {
    // (Bounded well below the refresh's 30 s time limit, well above close()'s 2 s wait for it.)
    const { code, stdout, stderr } = await within(15_000, child.exited);
    equal(code, 0, stderr);
    equal(stdout.trim(), "2", "the refresh went to the origin");
  } finally {
    child.kill("SIGKILL");
  }
});

/** A response fresh for an hour stored in Deno KV's default in-memory database, never closed. */
const KV_UNCLOSED = `
const { CachedSession } = await import(ROOT + "mod.ts");
const { DenoKVBackend } = await import(ROOT + "backends/deno_kv.ts");
// (Deno's own default database is a file: its in-memory one stands in.)
const backend = new DenoKVBackend(globalThis.Deno ? { path: ":memory:" } : {});
const session = new CachedSession({
  backend,
  fetch: () => Promise.resolve(new Response("v1", { headers: { "cache-control": "max-age=3600" } })),
});
await (await session.fetch("http://127.0.0.1/r")).text();
console.log((await session.fetch("http://127.0.0.1/r")).fromCache);
`;

// On Node and Bun, @deno/kv's in-memory database timed its soonest expiry with a timer that kept
// the process running until then: an hour after its work was done, for this response.
Deno.test("a process ends on its own once its work is done, with a Deno KV record fresh for an hour", async () => {
  const child = runCollecting(KV_UNCLOSED);
  try {
    const { code, stdout, stderr } = await within(15_000, child.exited);
    equal(code, 0, stderr);
    equal(stdout.trim(), "true", "the second request was a hit");
  } finally {
    child.kill("SIGKILL");
  }
});
