/**
 * A Redis hit against the round trip it cannot avoid: a raw `GET` of the same record, with the
 * same client, timed side by side (one round trip each). Beside them, the floor of a Redis hit,
 * as the floor of a memory hit: parse the URL and compute its key, the raw `GET`, then a plain
 * `Response` built from the body's bytes in its reply, read to the end.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "@redis/client";
import { RedisBackend } from "../backends/redis.ts";
import { cacheKey } from "../src/cache_keys.ts";
import { CachedSession } from "../src/session.ts";
import { type Budget, compare, env, type Result } from "./_measure.ts";
import { type Origin, SIZES } from "./_origin.ts";
import { micros, rate, SIZE_LABEL, type Table, times } from "./_report.ts";
import { type Figures, fill, HIT_URLS, originFields, runtimeName, sessionCase } from "./hits.ts";
import { responseFromBytes } from "../src/served_body.ts";

const KEY_OPTIONS = { ignoredParameters: new Set<string>(), matchHeaders: [] as string[] };
const NO_HEADERS = new Headers();

/**
 * Times Redis hits and raw GETs of the same records.
 *
 * @param origin The loopback origin.
 * @param options Sizes and budget.
 * @returns The table (or a skip note) and figures by `"redis-raw:<size>"`, `"redis-hit:<size>"`.
 */
export async function redisRaw(
  origin: Origin,
  options: { sizes: string[]; budget: Budget },
): Promise<{ table: Table; figures: Figures }> {
  const url = env("REDIS_URL");
  const table: Table = {
    title: `Redis: a hit against a raw GET of the same bytes, same client (${runtimeName()})`,
    columns: [
      "body",
      "raw GET/s",
      "raw p50 µs",
      "hit/s",
      "hit p50 µs",
      "hit ÷ raw GET (time)",
      "floor: key, GET, Response",
    ],
    rows: [],
    notes: [],
  };
  const figures: Figures = {};
  if (!url) {
    table.notes.push("skipped: REDIS_URL is not set (run `deno task bench`: it starts redis-server)");
    return { table, figures };
  }
  const client = await createClient({ url }).connect();
  const prefix = `http-cache-bench-raw:${Date.now()}:`;
  const session = new CachedSession({ backend: new RedisBackend({ client, prefix }) });
  // The cheapest GET the client sends: no timer of its own per command, as the backend sends it.
  const binary = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer }, timeout: 0 };
  try {
    for (const size of options.sizes) {
      const urls = Array.from({ length: HIT_URLS }, (_, i) => `${origin.url}/${size}/raw-${i}`);
      const problem = await fill(session, urls);
      if (problem !== undefined) throw new Error(problem);
      const keys = urls.map((url) =>
        prefix + cacheKey({ method: "GET", url: new URL(url), headers: new Headers() }, KEY_OPTIONS)
      );
      const headers = await originFields(urls[0]!);
      const get = async (key: string) => {
        const value = await client.sendCommand<Buffer | null>(["GET", key], binary);
        if (value === null) throw new Error("redis raw GET: the record is missing");
        return value;
      };
      let raws = 0, floors = 0;
      const [raw, floor, hit] = await compare([
        { name: "raw", run: () => get(keys[raws++ % keys.length]!) },
        {
          name: "floor",
          run: async () => {
            const url = new URL(urls[floors++ % urls.length]!);
            const record = await get(
              prefix + cacheKey({ method: "GET", url, headers: NO_HEADERS }, KEY_OPTIONS),
            );
            await responseFromBytes(record.subarray(record.length - SIZES[size]!), { headers }).arrayBuffer();
          },
        },
        sessionCase("hit", session, urls),
      ], options.budget) as [Result, Result, Result];
      figures[`redis-raw:${size}`] = raw;
      figures[`redis-floor:${size}`] = floor;
      figures[`redis-hit:${size}`] = hit;
      table.rows.push([
        SIZE_LABEL[size]!,
        rate(raw.opsPerSec),
        micros(raw.p50),
        rate(hit.opsPerSec),
        micros(hit.p50),
        times(raw.opsPerSec / hit.opsPerSec),
        times(raw.opsPerSec / floor.opsPerSec),
      ]);
    }
    table.notes.push(
      "A hit takes one GET; the rest is decoding the record and building the Response.",
      "The floor: the URL parsed and its key computed, the raw GET, then a plain Response built from the " +
        "body's bytes in its reply and read.",
    );
  } finally {
    await session.cache.clear();
    await session.close();
    client.destroy();
  }
  return { table, figures };
}
