/**
 * Opening a Deno KV database: Deno's own (`Deno.openKv`), or on Node and Bun `@deno/kv`'s, loaded
 * only then, whose in-memory database's expiry timer is tamed.
 *
 * @module
 */

import type { KvLike } from "../backends/deno_kv.ts";
import { MAX_TIMEOUT } from "./backend_options.ts";

/**
 * Opens a database, or takes the one given.
 *
 * @param path Its path or KV Connect URL; none: the default database (in memory on Node and Bun).
 * @param injected A database given, used as it is.
 * @param fetcher The fetch `@deno/kv` sends KV Connect requests with.
 * @returns The database.
 */
export async function openKv(
  path: string | undefined,
  injected: KvLike | undefined,
  fetcher: typeof fetch,
): Promise<KvLike> {
  if (injected !== undefined) return injected;
  const deno = (globalThis as { Deno?: { openKv?: (path?: string) => Promise<KvLike> } }).Deno;
  if (typeof deno?.openKv === "function") return await deno.openKv(path);
  const { openKv } = await import("@deno/kv");
  // Only bytes are stored, so the V8 value codec (which Bun lacks) is never needed.
  const encodeV8 = (): never => {
    throw new TypeError("Cannot encode value: DenoKVStorage stores bytes only");
  };
  return tameExpirer(await openKv(path, { encodeV8, decodeV8: encodeV8, fetcher }));
}

/** `@deno/kv`'s in-memory database's timer of the soonest expiry. */
interface Expirer {
  rescheduleExpirer(at: number): void;
  expirerTimeout?: { unref?: () => void } | number;
}

/** The expiry timer of a database that has one: `@deno/kv`'s in-memory one (Node and Bun). */
export function expirerOf(kv: KvLike): Expirer | undefined {
  const expirer = (kv as { expirer?: Partial<Expirer> }).expirer;
  return typeof expirer?.rescheduleExpirer === "function" ? expirer as Expirer : undefined;
}

/**
 * Tames the timer of `@deno/kv`'s in-memory database (Node and Bun without a path), armed for its
 * soonest expiry. It lets the process end: the timer kept it running until then, an hour after
 * its work was done for a response fresh for an hour (the database ends with the process anyway).
 * It comes due within the longest timer (about 24.8 days), to look again then: one armed past it
 * fires after 1 ms, and again every millisecond, so a record kept longer had no expiry at all, and
 * stayed, unlisted, once past it. And it is never armed in the past: once it has deleted what
 * expired, the database arms it for the soonest of what it held before (a moment ago), and Node
 * and Bun warned "TimeoutNegativeWarning" on the process's first expiry.
 */
function tameExpirer(kv: KvLike): KvLike {
  const expirer = expirerOf(kv);
  if (expirer === undefined) return kv;
  const reschedule = expirer.rescheduleExpirer;
  expirer.rescheduleExpirer = (at: number) => {
    const now = Date.now();
    reschedule.call(expirer, Math.min(Math.max(at, now), now + MAX_TIMEOUT));
    const timer = expirer.expirerTimeout;
    if (typeof timer === "object") timer.unref?.();
  };
  return kv;
}
