/**
 * Hits beside the peers, in one Node 24 (or Bun) process, from one loopback origin, with the same
 * bodies:
 *
 * - the floor (key + `Response` from bytes), `MemoryBackend` and `SQLiteBackend`;
 * - undici's `fetch` with `interceptors.cache` over `MemoryCacheStore` and over
 *   `SqliteCacheStore` (a file, like ours);
 * - make-fetch-happen (its cacache directory cache);
 * - axios with axios-cache-interceptor (its in-memory storage).
 *
 * Every case reads the body to the end, and is checked to be served without the origin before
 * it is timed. The same process then times misses: ours against the runtime's plain `fetch`
 * (`bench/misses.ts`), and ours and the peers' side by side (`bench/peer_misses.ts`). Run it
 * alone (`node bench/peers.ts`, `bun bench/peers.ts`) for its tables, or through `deno task
 * bench`, which calls it on both with `--json <file>` and prints everything together.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { CachedSession } from "../src/session.ts";
import { cleanup, scratch } from "./_backends.ts";
import { budget, type Case, compare } from "./_measure.ts";
import { misses } from "./misses.ts";
import { type Contender, peerMisses } from "./peer_misses.ts";
import { type Origin, SIZES, startOrigin } from "./_origin.ts";
import { markdown, SIZE_LABEL, type Table, times, timing } from "./_report.ts";
import { type Figures, fill, floorCase, HIT_URLS, originFields, runtimeName, sessionCase } from "./hits.ts";

/** Table labels of the cases, and which of ours each peer is compared with. */
export const PEERS: { name: string; label: string; versus?: string }[] = [
  { name: "floor", label: "floor: key + Response from bytes" },
  { name: "memory", label: "@x/http-cache MemoryBackend" },
  { name: "undici-memory", label: "undici fetch + cache interceptor, MemoryCacheStore", versus: "memory" },
  { name: "axios", label: "axios + axios-cache-interceptor (memory)", versus: "memory" },
  { name: "sqlite", label: "@x/http-cache SQLiteBackend (file)" },
  {
    name: "undici-sqlite",
    label: "undici fetch + cache interceptor, SqliteCacheStore (file)",
    versus: "sqlite",
  },
  { name: "make-fetch-happen", label: "make-fetch-happen (cacache files)", versus: "sqlite" },
];

/** A peer's client, opened for one section: `run` fetches a URL and reads its body to the end. */
export interface Peer {
  /** One request, body read to the end. */
  run: (url: string) => Promise<unknown>;
  /** Closes what the client opened (agents, database files). */
  close?: () => Promise<unknown> | void;
}

/**
 * undici from npm. On Bun by its path: there `undici` names a module built into Bun, without the
 * cache interceptor or its stores.
 */
const UNDICI = runtimeName().startsWith("Bun")
  ? new URL("../node_modules/undici/index.js", import.meta.url).href
  : "undici";

/**
 * undici's `fetch` from npm over an `Agent` of its own: with its cache interceptor over `store`,
 * or, without a store, no cache (the stack that interceptor runs on).
 */
async function undici(store?: "memory" | "sqlite"): Promise<Peer> {
  const { Agent, cacheStores, fetch, interceptors } = await import(UNDICI) as typeof import("undici");
  const cache = store === undefined
    ? undefined
    : store === "memory"
    ? new cacheStores.MemoryCacheStore({ maxCount: 10_000, maxSize: 1024 ** 3 })
    : new cacheStores.SqliteCacheStore({ location: join(scratch(), `undici-${Date.now()}.db`) });
  const agent = new Agent();
  const dispatcher = cache === undefined ? agent : agent.compose(interceptors.cache({ store: cache }));
  return {
    run: async (url) => await (await fetch(url, { dispatcher })).arrayBuffer(),
    close: async () => {
      await agent.close();
      (cache as { close?: () => void } | undefined)?.close?.();
    },
  };
}

async function makeFetchHappen(): Promise<Peer> {
  const { default: fetchHappen } = await import("make-fetch-happen");
  const fetch = fetchHappen.defaults({ cachePath: join(scratch(), `make-fetch-happen-${Date.now()}`) });
  return { run: async (url) => await (await fetch(url)).arrayBuffer() };
}

async function axios(): Promise<Peer> {
  const { default: Axios } = await import("axios");
  const { setupCache } = await import("axios-cache-interceptor");
  const client = setupCache(Axios.create());
  return { run: (url) => client.get(url, { responseType: "arraybuffer" }) };
}

/** How each peer is opened, by its name in {@linkcode PEERS}. */
const MAKERS: Record<string, () => Promise<Peer>> = {
  "undici-memory": () => undici("memory"),
  "undici-sqlite": () => undici("sqlite"),
  "make-fetch-happen": makeFetchHappen,
  "axios": axios,
};

/**
 * The peers as `bench/peer_misses.ts` times them: undici's `fetch` without a cache first (what
 * its interceptor adds to it is the interceptor's own), then each peer opened as for the hits, in
 * table order.
 *
 * @returns The reference, then one contender per peer.
 */
export function contenders(): Contender[] {
  const reference: Contender = {
    name: "undici-fetch",
    label: "undici fetch from npm (no cache)",
    open: () => undici(),
    stores: false,
  };
  return [
    reference,
    ...PEERS.filter(({ name }) => name in MAKERS).map(({ name, label }) => ({
      name,
      label,
      open: MAKERS[name]!,
    })),
  ];
}

/** A peer as a timed case, once it has stored every URL and served them all without the origin. */
async function peerCase(name: string, peer: Peer, urls: string[], origin: Origin): Promise<Case | string> {
  for (const url of urls) await peer.run(url);
  for (const url of urls) await peer.run(url); // some stores finish writing in the background
  const before = origin.requests;
  for (let i = 0; i < 3 * urls.length; i++) await peer.run(urls[i % urls.length]!);
  if (origin.requests !== before) {
    return `${name} asked the origin ${origin.requests - before} times in ${3 * urls.length} repeat requests`;
  }
  let i = 0;
  return { name, run: () => peer.run(urls[i++ % urls.length]!) };
}

/**
 * Times our hits and the peers' side by side.
 *
 * @param origin The loopback origin (of this process).
 * @param sizes Body sizes.
 * @returns The table and figures by `"node:<case>:<size>"`.
 */
export async function peers(origin: Origin, sizes: string[]): Promise<{ table: Table; figures: Figures }> {
  const figures: Figures = {};
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const size of sizes) {
    const urls = Array.from({ length: HIT_URLS }, (_, i) => `${origin.url}/${size}/peer-${i}`);
    const cases: Case[] = [floorCase(urls, await originFields(urls[0]!), SIZES[size]!)];
    const sessions = [
      new CachedSession({ backend: new MemoryBackend() }),
      new CachedSession({ backend: new SQLiteBackend({ path: join(scratch(), `ours-${size}.db`) }) }),
    ];
    for (const [i, name] of ["memory", "sqlite"].entries()) {
      const problem = await fill(sessions[i]!, urls);
      if (problem !== undefined) throw new Error(problem);
      cases.push(sessionCase(name, sessions[i]!, urls));
    }
    const opened: Peer[] = [];
    for (const [name, make] of Object.entries(MAKERS)) {
      try {
        const peer = await make();
        opened.push(peer);
        const made = await peerCase(name, peer, urls, origin);
        if (typeof made === "string") figures[`node:${name}:${size}`] = { skip: made };
        else cases.push(made);
      } catch (error) {
        figures[`node:${name}:${size}`] = { skip: `${name} failed: ${(error as Error).message}` };
      }
    }
    const results = await compare(cases, { ...budget(), maxOps: size === "1k" ? undefined : 20_000 });
    for (const result of results) figures[`node:${result.name}:${size}`] = result;
    for (const session of sessions) await session.close();
    for (const peer of opened) await peer.close?.();
    const floor = results[0]!;
    for (const { name, label, versus } of PEERS) {
      const figure = figures[`node:${name}:${size}`];
      if (figure === undefined) continue;
      if ("skip" in figure) {
        rows.push([label, SIZE_LABEL[size]!, "skipped", "", "", "", ""]);
        notes.push(figure.skip);
        continue;
      }
      const ours = versus === undefined ? undefined : figures[`node:${versus}:${size}`];
      const lead = ours !== undefined && !("skip" in ours) ? ours.opsPerSec / figure.opsPerSec : undefined;
      rows.push([
        label,
        SIZE_LABEL[size]!,
        ...timing(figure),
        name === "floor" ? "1.00×" : times(floor.opsPerSec / figure.opsPerSec),
        versus === undefined ? "" : `${times(lead)} (${versus})`,
      ]);
    }
  }
  return {
    table: {
      title:
        `Hits beside the peers (${runtimeName()}, one process, same origin and bodies, body read to the end)`,
      columns: ["", "body", "hits/s", "p50 µs", "p99 µs", "time ÷ floor", "ours ÷ theirs (hits/s)"],
      rows,
      notes: [
        ...notes,
        "Each peer was checked to serve every URL without asking the origin before it was timed.",
      ],
    },
    figures,
  };
}

const main = (import.meta as { main?: boolean }).main ??
  (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href);

if (main) {
  const json = process.argv.indexOf("--json");
  const origin = await startOrigin();
  try {
    const beside = await peers(origin, ["1k", "100k"]);
    // Misses here too: Node's fetch (undici) and Bun's are other network stacks than Deno's.
    const missed = await misses(origin, { sizes: ["1k", "100k", "10m"], budget: budget() });
    const missedBeside = await peerMisses(origin, {
      sizes: ["1k", "100k"],
      budget: budget(),
      peers: contenders(),
    });
    const tables = [beside.table, missed.table, missedBeside.table];
    const figures = { ...beside.figures, ...missedBeside.figures };
    for (const [name, figure] of Object.entries(missed.figures)) figures[`node:${name}`] = figure;
    if (json > 0) {
      writeFileSync(process.argv[json + 1]!, JSON.stringify({ tables, figures, runtime: runtimeName() }));
    } else for (const table of tables) console.log(markdown(table));
  } finally {
    await origin.close();
    cleanup();
  }
}
