/**
 * Misses beside the peers, in the Node 24 (or Bun) process of `bench/peers.ts`, from the same
 * loopback origin: the runtime's own `fetch` (no cache), our `CachedSession` over `MemoryBackend`
 * and over `SQLiteBackend` (a file), and what `bench/peers.ts` gives: undici's `fetch` from npm
 * without a cache (the stack its interceptor runs on), then each peer. Every request asks for a
 * new URL, so every one goes to the origin (and is stored); the body is read to the end.
 *
 * Each cache is first checked to store a miss (a second request for a new URL must not reach the
 * origin); one that does not is left out with the reason. While timed, every request is checked
 * to have reached the origin.
 *
 * @module
 */

import { join } from "node:path";
import { MemoryBackend } from "../backends/memory.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { CachedSession } from "../src/session.ts";
import { scratch } from "./_backends.ts";
import { type Budget, type Case, compare } from "./_measure.ts";
import type { Origin } from "./_origin.ts";
import { SIZE_LABEL, type Table, times, timing } from "./_report.ts";
import { type Figures, runtimeName } from "./hits.ts";
import { MAX_OPS } from "./misses.ts";
import type { Peer } from "./peers.ts";

/** A client to time, and how to open it (once per body size). */
export interface Contender {
  /** Figure key part and note name. */
  name: string;
  /** Row label. */
  label: string;
  /** Opens a fresh client with an empty cache. */
  open: () => Promise<Peer>;
  /** `false` for a client without a cache, timed as a reference: not checked to store a miss. */
  stores?: false;
}

/** Ours over a fresh backend, read like the peers (whether it was a miss is checked at the origin). */
function ours(backend: "memory" | "sqlite", size: string): Contender {
  return {
    name: backend,
    label: backend === "memory" ? "@x/http-cache MemoryBackend" : "@x/http-cache SQLiteBackend (file)",
    open: () => {
      const session = new CachedSession({
        backend: backend === "memory"
          ? new MemoryBackend()
          : new SQLiteBackend({ path: join(scratch(), `miss-${size}-${Date.now()}.db`) }),
      });
      return Promise.resolve({
        run: async (url: string) => await (await session.fetch(url)).arrayBuffer(),
        close: () => session.close(),
      });
    },
  };
}

const plain: Contender = {
  name: "fetch",
  label: "fetch (the runtime's own, no cache)",
  open: () => Promise.resolve({ run: async (url: string) => await (await fetch(url)).arrayBuffer() }),
  stores: false,
};

/** What the runtime's own `fetch` is: Node's bundled undici, or Bun's native one. */
function plainFetch(): string {
  if (runtimeName().startsWith("Bun")) return "Bun's native one";
  const versions = (globalThis as { process?: { versions?: Record<string, string> } }).process?.versions;
  return `Node's bundled undici ${versions?.undici ?? "?"}`;
}

/**
 * Checks that a client stores a miss: a new URL twice, and the second must not reach the origin.
 *
 * @returns `undefined`, or why it does not.
 */
async function storesMisses(peer: Peer, url: string, origin: Origin): Promise<string | undefined> {
  await peer.run(url);
  const before = origin.requests;
  await peer.run(url);
  return origin.requests === before ? undefined : "its second request for a new URL reached the origin";
}

/** A timed case: a new URL each time, counting the requests that did not reach the origin. */
function missCase(name: string, size: string, peer: Peer, origin: Origin, unseen: Map<string, number>): Case {
  let serial = 0;
  return {
    name,
    run: async () => {
      const before = origin.requests;
      await peer.run(`${origin.url}/${size}/peer-miss-${name}-${++serial}`);
      if (origin.requests === before) unseen.set(name, (unseen.get(name) ?? 0) + 1);
    },
  };
}

/**
 * Times misses through plain `fetch`, our two backends and the peers, side by side.
 *
 * @param origin The loopback origin (of this process).
 * @param options Body sizes, budget, and the peers to time after ours.
 * @returns The table, and figures by `"node:miss-<case>:<size>"`.
 */
export async function peerMisses(
  origin: Origin,
  options: { sizes: string[]; budget: Budget; peers: Contender[] },
): Promise<{ table: Table; figures: Figures }> {
  const figures: Figures = {};
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const size of options.sizes) {
    const contenders = [plain, ours("memory", size), ours("sqlite", size), ...options.peers];
    const cases: Case[] = [];
    const opened: Peer[] = [];
    const unseen = new Map<string, number>();
    for (const contender of contenders) {
      const { name, open } = contender;
      const key = `node:miss-${name}:${size}`;
      try {
        const peer = await open();
        opened.push(peer);
        const problem = contender.stores === false
          ? undefined
          : await storesMisses(peer, `${origin.url}/${size}/peer-miss-${name}-probe`, origin);
        if (problem === undefined) cases.push(missCase(name, size, peer, origin, unseen));
        else figures[key] = { skip: `${name} (${SIZE_LABEL[size]}) does not store a miss: ${problem}` };
      } catch (error) {
        figures[key] = { skip: `${name} (${SIZE_LABEL[size]}) failed: ${(error as Error).message}` };
      }
    }
    try {
      const results = await compare(cases, { ...options.budget, maxOps: MAX_OPS[size] });
      for (const result of results) figures[`node:miss-${result.name}:${size}`] = result;
    } finally {
      for (const peer of opened) await peer.close?.();
    }
    for (const [name, count] of unseen) {
      notes.push(`${name} (${SIZE_LABEL[size]}): ${count} requests for a new URL did not reach the origin`);
    }
    const base = figures[`node:miss-fetch:${size}`];
    for (const { name, label } of contenders) {
      const figure = figures[`node:miss-${name}:${size}`]!;
      if ("skip" in figure) {
        rows.push([label, SIZE_LABEL[size]!, "skipped", "", "", ""]);
        notes.push(figure.skip);
        continue;
      }
      const ratio = base !== undefined && !("skip" in base) ? base.opsPerSec / figure.opsPerSec : undefined;
      rows.push([label, SIZE_LABEL[size]!, ...timing(figure), times(ratio)]);
    }
  }
  return {
    table: {
      title:
        `Misses beside the peers (${runtimeName()}, one process, same origin and bodies, body read to the end)`,
      columns: ["", "body", "req/s", "p50 µs", "p99 µs", "time ÷ plain fetch"],
      rows,
      notes: [
        "Every request is a new URL: it goes to the origin, and through a cache it is stored. Each cache was " +
        "checked to store one (a second request for a new URL did not reach the origin) before it was timed.",
        `Time ÷ plain fetch is against the runtime's own \`fetch\` (${plainFetch()}), whatever stack ` +
        "the peer uses: undici's fetch from npm (timed alone too, without a cache); make-fetch-happen on " +
        "minipass-fetch (node:http); axios on node:http. Ours is the runtime's own `fetch`.",
        ...notes,
      ],
    },
    figures,
  };
}
