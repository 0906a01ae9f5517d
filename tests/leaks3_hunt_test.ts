/**
 * Memory held past its use in a long-running process, a third pass: what a response served from
 * the cache (a hit) holds once its body was read or cancelled, and kept by its caller (a log, a
 * memo of its own). Garbage collection is what it is about, so the scenario runs in a process of
 * its own (the collector exposed), started from code given on its command line.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { within } from "./_fixtures.ts";
import { runCollecting, RUNTIME } from "./_runtime.ts";

/**
 * For each way of reading a hit's body given on the command line: 20 hits of 100 KB records in
 * the memory backend, each kept after its body was read, then the cache cleared; prints how many
 * of the 20 records are still in memory.
 */
const KEPT_HITS = `
const { CachedSession } = await import(ROOT + "mod.ts");
const { MemoryBackend } = await import(ROOT + "backends/memory.ts");
const gc = globalThis.gc ?? (() => globalThis.Bun.gc(true));
const text = "x".repeat(100_000);
const out = {};
for (const mode of MODES) {
  const count = { kept: 0 };
  const registry = new FinalizationRegistry(() => count.kept--);
  const backend = new MemoryBackend();
  const session = new CachedSession({
    backend,
    fetch: async () => new Response(text, { headers: { "cache-control": "max-age=600" } }),
  });
  /** Counts the records stored since the last call, until each is collected. */
  const countStored = async () => {
    for await (const key of backend.storage.keys()) {
      const { buffer } = await backend.storage.get(key);
      if (counted.has(buffer)) continue;
      counted.add(buffer);
      count.kept++;
      registry.register(buffer, undefined);
    }
  };
  const counted = new WeakSet();
  const kept = [];
  for (let i = 0; i < 20; i++) {
    const url = "http://127.0.0.1/" + i;
    await (await session.fetch(url)).text();
    await countStored();
    const hit = await session.fetch(url);
    if (!hit.fromCache) throw new Error("not a hit");
    if (mode === "text") await hit.text();
    else if (mode === "arrayBuffer") await hit.arrayBuffer();
    else if (mode === "cancelled") await hit.body.cancel();
    kept.push(hit);
  }
  await session.cache.clear();
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  out[mode] = count.kept;
  await session.close();
}
console.log(JSON.stringify(out));
`;

// A hit kept after its body was read whole held the stored record it was served from, on Deno
// (the response kept the bytes it was built from, for a clone it could no longer make), and one
// whose body was cancelled held it on Node (its body's offer to be taken whole outlived the
// cancel): a process that keeps responses kept every record they came from, long after the cache
// had let go of it. (On Deno a hit's body read as a stream, or cancelled, still holds it: the
// bytes are what a clone of a body not yet read is made from, and reading that body passes by
// nothing the response sees.)
Deno.test("a hit kept after its body was read whole or cancelled holds none of the stored record", async () => {
  const modes = RUNTIME === "deno" ? ["text", "arrayBuffer"] : ["text", "arrayBuffer", "cancelled"];
  const child = runCollecting(`const MODES = ${JSON.stringify(modes)};\n${KEPT_HITS}`);
  try {
    const { code, stdout, stderr } = await within(60_000, child.exited);
    equal(code, 0, stderr);
    const kept = JSON.parse(stdout) as Record<string, number>;
    deepEqual(Object.keys(kept), modes);
    // Bun's collector scans the stack conservatively, and may keep one or two a while longer;
    // held by the responses, all 20 are kept.
    const allowed = RUNTIME === "bun" ? 3 : 0;
    const over = Object.entries(kept).filter(([, records]) => records > allowed);
    deepEqual(over, [], `records of 20 still in memory, by how the body was read (at most ${allowed})`);
  } finally {
    child.kill("SIGKILL");
  }
});
