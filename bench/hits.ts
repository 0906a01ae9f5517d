/**
 * Hits: the floor, then a hit on each backend, 1 KB and 100 KB bodies read to the end, timed
 * side by side. Runs on Deno (every backend, and the built-in Web Cache API) and on Node (the
 * backends the peers are compared with).
 *
 * The floor is what no hit can beat: parse the URL, compute a key from it, find the URL's bytes
 * in a `Map` (each URL its own copy, as in a cache), build a `Response` from them with the stored
 * header fields (the way a hit does: from the bytes on Deno, from a one-chunk byte stream on
 * Node, which is faster there), read its body.
 *
 * @module
 */

import { CachedSession } from "../src/session.ts";
import { normalizeUrl } from "../src/cache_keys.ts";
import { responseFromBytes } from "../src/served_body.ts";
import { type BackendName, openBackend, type Opened } from "./_backends.ts";
import { type Budget, type Case, compare, type Result } from "./_measure.ts";
import { body, type Origin, SIZES } from "./_origin.ts";
import { SIZE_LABEL, type Table, times, timing } from "./_report.ts";

/** A request as an API client sends it: with `Authorization`. */
const WITH_TOKEN: RequestInit = {
  headers: { authorization: "Bearer bench-0123456789abcdefghijklmnopqrstuv" },
};

/** Backends timed in the first group, beside the floor and nothing else. */
const LOCAL = new Set(["memory", "sqlite"]);

/** Distinct URLs a hit cycles through. */
export const HIT_URLS = 100;

/** Results by `"<case>:<size>"`; a skipped case has a reason instead. */
export type Figures = Record<string, Result | { skip: string }>;

/**
 * The floor case for one body size: what a hit cannot beat.
 *
 * @param urls The URLs stored.
 * @param headers The header fields a stored response has.
 * @param size Body size in bytes.
 * @param visits The URLs to cycle through: all of `urls` unless told.
 * @returns The case.
 */
export function floorCase(urls: string[], headers: [string, string][], size: number, visits = urls): Case {
  // Each URL has its own copy, as in a cache: one shared array would stay in the CPU cache.
  const stored = new Map(urls.map((url) => [`GET ${normalizeUrl(new URL(url))}`, body(size).slice()]));
  let i = 0;
  return {
    name: "floor",
    run: async () => {
      const url = new URL(visits[i++ % visits.length]!);
      const found = stored.get(`GET ${normalizeUrl(url)}`)!;
      // Built the fastest way for the runtime, as a hit builds its own.
      await responseFromBytes(found, { headers }).arrayBuffer();
    },
  };
}

/**
 * A hit case over a session whose backend holds every URL.
 *
 * @param name Row label.
 * @param session The session.
 * @param urls The URLs to cycle through (all stored).
 * @param init What each request is sent with.
 * @returns The case.
 */
export function sessionCase(name: string, session: CachedSession, urls: string[], init?: RequestInit): Case {
  let i = 0;
  return {
    name,
    run: async () => {
      const response = await session.fetch(urls[i++ % urls.length]!, init);
      if (!response.fromCache) throw new Error(`${name}: a hit went to the origin`);
      await response.arrayBuffer();
    },
  };
}

/**
 * Stores every URL through the session (a real miss each), then checks that each is a hit.
 *
 * @param session The session.
 * @param urls The URLs.
 * @param init What each request is sent with.
 * @returns `undefined`, or why the backend cannot serve hits here.
 */
export async function fill(
  session: CachedSession,
  urls: string[],
  init?: RequestInit,
): Promise<string | undefined> {
  for (const url of urls) await (await session.fetch(url, init)).arrayBuffer();
  for (const url of urls) {
    const response = await session.fetch(url, init);
    await response.arrayBuffer();
    if (!response.fromCache) return `${session.cache.name} served ${url} from the origin after storing it`;
  }
  return undefined;
}

/**
 * The stored header fields of a response from the origin, as a hit serves them.
 *
 * @param url A URL of the origin.
 * @returns The fields.
 */
export async function originFields(url: string): Promise<[string, string][]> {
  const response = await fetch(url);
  await response.arrayBuffer();
  return [...response.headers];
}

/**
 * Times hits on the floor, each backend and (on Deno) the Web Cache API.
 *
 * @param origin The loopback origin.
 * @param options Backends, sizes, budget, and whether to include `caches`.
 * @returns The table and the figures by `"<case>:<size>"`.
 */
export async function hits(
  origin: Origin,
  options: { backends: readonly BackendName[]; sizes: string[]; budget: Budget; webCache: boolean },
): Promise<{ table: Table; figures: Figures }> {
  const figures: Figures = {};
  const rows: string[][] = [];
  const notes = new Set<string>();
  for (const size of options.sizes) {
    const urls = Array.from({ length: HIT_URLS }, (_, i) => `${origin.url}/${size}/hit-${i}`);
    const floor = floorCase(urls, await originFields(urls[0]!), SIZES[size]!);
    // Two groups, each timed beside the floor: the in-process backends, then those behind a
    // socket or a database engine, whose garbage and background work would blur the first.
    const groups: Case[][] = [[floor], [{ ...floor, name: "floor-remote" }]];
    const opened: Opened[] = [];
    const sessions: CachedSession[] = [];
    /** The table's rows, in the order their cases were set up. */
    const names = ["floor"];
    for (const name of options.backends) {
      names.push(name);
      const backend = await openBackend(name);
      opened.push(backend);
      if (backend.skip !== undefined) {
        figures[`${name}:${size}`] = { skip: backend.skip };
        continue;
      }
      if (backend.note) notes.add(backend.note);
      const session = new CachedSession({ backend: backend.backend });
      sessions.push(session);
      const problem = await fill(session, urls);
      if (problem === undefined) groups[LOCAL.has(name) ? 0 : 1]!.push(sessionCase(name, session, urls));
      else figures[`${name}:${size}`] = { skip: problem };
      if (name === "memory" && problem === undefined) {
        // As an API client asks: with a bearer token, which its key holds as a digest.
        names.push("memory-token");
        const tokened = await fill(session, urls, WITH_TOKEN);
        if (tokened === undefined) groups[0]!.push(sessionCase("memory-token", session, urls, WITH_TOKEN));
        else figures[`memory-token:${size}`] = { skip: tokened };
      }
    }
    const webCache = options.webCache ? await webCacheCase(urls) : undefined;
    if (webCache !== undefined) groups[1]!.push(webCache.case);
    const floors: Record<string, Result> = {};
    for (const group of groups) {
      if (group.length === 1) continue;
      const results = await compare(group, { ...options.budget, maxOps: size === "1k" ? undefined : 20_000 });
      for (const result of results.slice(1)) {
        figures[`${result.name}:${size}`] = result;
        floors[result.name] = results[0]!;
      }
      if (group === groups[0]) figures[`floor:${size}`] = floors.floor = results[0]!;
      else figures[`floor-remote:${size}`] = results[0]!;
    }
    await webCache?.close();
    // The backend's own close clears what the run stored; the session's then finds it closed.
    for (const backend of opened) if (backend.skip === undefined) await backend.close();
    for (const session of sessions) await session.close();
    for (const name of [...names, ...(options.webCache ? ["web-cache"] : [])]) {
      const figure = figures[`${name}:${size}`];
      const label = LABELS[name] ?? name;
      if (figure === undefined) continue;
      if ("skip" in figure) {
        rows.push([label, SIZE_LABEL[size]!, "skipped", "", "", ""]);
        notes.add(`${label}: ${figure.skip}`);
        continue;
      }
      rows.push([
        label,
        SIZE_LABEL[size]!,
        ...timing(figure),
        name === "floor" ? "1.00×" : times(floors[name]!.opsPerSec / figure.opsPerSec),
      ]);
    }
  }
  return {
    table: {
      title: `Hits (${runtimeName()}, body read to the end, ${HIT_URLS} URLs in turn)`,
      columns: ["", "body", "hits/s", "p50 µs", "p99 µs", "time ÷ floor"],
      rows,
      notes: [
        "Memory and SQLite are timed beside the floor; the other backends in a second group with a floor " +
        "of their own, which their ratio uses.",
        "With a bearer token: the memory backend's session again, each request sent with an `Authorization` " +
        "field (its key then holds a digest of it), as an API client sends them.",
        ...notes,
      ],
    },
    figures,
  };
}

const LABELS: Record<string, string> = {
  "floor": "floor: key + Response from bytes",
  "memory": "MemoryBackend",
  "memory-token": "MemoryBackend, with a bearer token",
  "sqlite": "SQLiteBackend (file, WAL)",
  "redis": "RedisBackend",
  "mongodb": "MongoDBBackend",
  "deno-kv": "DenoKVBackend (file)",
  "web-cache": "Deno `caches` (Web Cache API)",
};

/** Deno's built-in Web Cache API, holding the same responses: the floor of a persistent cache. */
async function webCacheCase(urls: string[]): Promise<{ case: Case; close(): Promise<unknown> } | undefined> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (storage === undefined || !("Deno" in globalThis)) return undefined;
  const name = `http-cache-bench-${Date.now()}`;
  const cache = await storage.open(name);
  for (const url of urls) await cache.put(url, await fetch(url));
  let i = 0;
  return {
    case: {
      name: "web-cache",
      run: async () => {
        const response = await cache.match(urls[i++ % urls.length]!);
        if (response === undefined) throw new Error("web-cache: a stored response was not found");
        await response.arrayBuffer();
      },
    },
    close: () => storage.delete(name),
  };
}

/** `Deno 2.x` or `Node 24.x`. */
export function runtimeName(): string {
  const versions = (globalThis as { process?: { versions?: Record<string, string> } }).process?.versions;
  if ("Deno" in globalThis) {
    return `Deno ${(globalThis as unknown as { Deno: typeof Deno }).Deno.version.deno}`;
  }
  if (versions?.bun) return `Bun ${versions.bun}`;
  return `Node ${versions?.node}`;
}
