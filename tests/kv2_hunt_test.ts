/**
 * The Deno KV backend, second pass: KV's commit limits, expiry limits and races, on
 * `Deno.openKv` (Deno) and `@deno/kv` (Node, Bun).
 */
import { deepEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { DenoKVStorage } from "../backends/deno_kv.ts";
import { CHUNK_SIZE } from "../src/kv_manifest.ts";
import { openKv } from "./_fixtures.ts";
import { runsOn, RUNTIME, tempDir } from "./_runtime.ts";

const KiB = 1024;
const dir = tempDir("http_cache_kv2_");
let files = 0;

function bytes(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) % 251;
  return out;
}

/** Skips a test on Deno, where `DenoKVStorage` without a path opens Deno's own default database. */
function runsOnNodeOrBun(why: string): { ignore: boolean } {
  return runsOn(RUNTIME === "deno" ? "node" : RUNTIME, why);
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}

// Was: a commit of twelve chunks counts each chunk's key twice, and under a prefix of more than
// 1,823 bytes (docs/backends.md allows 1,977) it passed KV's 819,200 bytes: every record over
// ~63 KiB failed to store with "Total mutation size too large" (on Deno, Deno Deploy, KV Connect).
Deno.test("deno-kv: a chunked record is stored under the longest prefix KV's keys allow", async () => {
  const kv = await openKv(join(dir, `kv_${files++}.kv`));
  try {
    for (const prefixBytes of [1_824, 1_977]) {
      const storage = new DenoKVStorage({ kv, prefix: ["p".repeat(prefixBytes - 2)] });
      for (const size of [12 * CHUNK_SIZE, 12 * CHUNK_SIZE + 1, 30 * CHUNK_SIZE - 1]) {
        const value = bytes(size, size % 251);
        await storage.set("k".repeat(60), value, Date.now() + 60_000);
        ok(
          same(await storage.get("k".repeat(60)), value),
          `${size} bytes under a ${prefixBytes}-byte prefix`,
        );
      }
      await storage.clear();
      deepEqual(await Array.fromAsync(kv.list({ prefix: storage.prefix })), []);
    }
  } finally {
    kv.close();
  }
});

/** Timers armed from now on, kept to be fired by hand; `restore()` puts `setTimeout` back. */
function heldTimers(): { armed: { delay: number; fire: () => void }[]; restore(): void } {
  const armed: { delay: number; fire: () => void }[] = [];
  const setTimer = globalThis.setTimeout;
  globalThis.setTimeout = ((handler: () => void, delay = 0) => {
    const timer = setTimer(handler, delay);
    armed.push({ delay, fire: handler });
    return timer;
  }) as typeof globalThis.setTimeout;
  return { armed, restore: () => void (globalThis.setTimeout = setTimer) };
}

// Was: on Node and Bun without a path (@deno/kv's in-memory database), a record kept longer than
// the longest timer (~24.8 days: a max-age of a month, or a year's `immutable` asset) was written
// with no expiry at all, so once past its deleteAt it was read as a miss and listed by nothing,
// and no delete but clear() could reach it: its bytes stayed for the life of the process. And once
// it deleted what expired, the database armed its timer in the past: Node and Bun printed a
// TimeoutNegativeWarning at the first record that expired.
Deno.test({
  name:
    "deno-kv: @deno/kv's in-memory database reclaims a record kept longer than the longest timer, arming no timer in the past",
  ...runsOnNodeOrBun("@deno/kv's in-memory database"),
  fn: async () => {
    const storage = new DenoKVStorage({});
    const timers = heldTimers();
    const realNow = Date.now;
    try {
      const day = 86_400_000;
      const start = realNow();
      await storage.set("inline", bytes(10), start + 31 * day);
      await storage.set("chunked", bytes(200 * KiB), start + 31 * day);
      // The database's expiry timer, armed within the longest timer, comes due after the records'
      // expiry (and their chunks' hour more).
      Date.now = () => start + 40 * day;
      timers.armed.find(({ delay }) => delay > 20 * day)?.fire();
      Date.now = realNow;
      const delays = timers.armed.map(({ delay }) => delay);
      ok(delays.every((delay) => delay >= 0 && delay <= 2 ** 31 - 1), `delays: ${delays}`);
      deepEqual(await Array.fromAsync(storage.keys()), [], "the records were not reclaimed");
      deepEqual([await storage.get("inline"), await storage.get("chunked")], [undefined, undefined]);
    } finally {
      Date.now = realNow;
      timers.restore();
      await storage.close();
    }
  },
});
