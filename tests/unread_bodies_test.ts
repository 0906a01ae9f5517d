/**
 * Responses dropped unread are let go of as fetch lets go of them: a signal that outlives them
 * keeps no listener of theirs (nor, through it, their bodies), and a body larger than the cache
 * keeps, collected while the caller had not read it, frees its connection. Garbage collection
 * decides when, so the scenario runs in a process of its own with the collector exposed
 * (`_unread_probe.ts`).
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { RUNTIME, start } from "./_runtime.ts";

const PROBE = fileURLToPath(new URL("./_unread_probe.ts", import.meta.url));

/** The command that runs the probe on this runtime, with the garbage collector exposed. */
function command(): [string, string[]] {
  if (RUNTIME === "deno") return ["deno", ["run", "--v8-flags=--expose-gc", "--allow-net=127.0.0.1", PROBE]];
  if (RUNTIME === "bun") return [process.execPath, [PROBE]];
  return [process.execPath, [...process.execArgv, "--expose-gc", PROBE]];
}

Deno.test("unread bodies: dropped responses leave no abort listener on a long-lived signal, and no connection open", async () => {
  const [program, args] = command();
  const { code, stdout, stderr } = await start(program, args, { capture: true }).exited;
  equal(code, 0, stderr);
  const { listeners, sockets } = JSON.parse(stdout) as { listeners: number; sockets: number[] };
  // 300 responses were dropped unread with the same signal: 200 misses and 100 hits. Bun's
  // collector scans the stack conservatively, and may keep a few of the last ones a while longer;
  // a listener that held its body would keep all 300.
  const allowed = RUNTIME === "bun" ? 30 : 0;
  ok(listeners <= allowed, `abort listeners left on the signal: ${listeners} (at most ${allowed})`);
  // 10 more bodies each round: the connections they held must not add up (10, 20, 30 when they
  // leak). On Node most of the last round's connections are still open when counted, and a few of
  // the round before (freed a little later, as plain fetch frees them): how many varies from run
  // to run (5 to 10), so the bound is one round's 10 and a few still closing, not the first count.
  ok(sockets.every((open) => open <= 10 + 3), `connections open after each round: ${sockets.join(", ")}`);
  deepEqual(sockets.length, 3);
});
