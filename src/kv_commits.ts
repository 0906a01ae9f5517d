/**
 * Deno KV commits: tried again while another handle holds the database's write lock, and deletes
 * of many keys, a commit's worth at a time.
 *
 * @module
 */

import type { KvAtomic, KvKey, KvLike } from "../backends/deno_kv.ts";
import { whileLocked } from "./errors.ts";

/** Most deletes in one commit. */
const DELETES_PER_COMMIT = 200;
/**
 * How long, in all, a commit is tried again while another handle holds the write lock
 * ({@linkcode committed}): 5 s, as SQLiteBackend's `busyTimeout`.
 */
const LOCKED_WAIT = 5000;

/**
 * Commits an atomic operation, built anew for each attempt. Another handle on the same local file
 * (another process, or another worker of `deno serve --parallel`) may hold the database's write
 * lock, and KV then fails the commit at once ("database is locked") instead of waiting for it: the
 * commit is tried again ({@linkcode whileLocked}) for {@linkcode LOCKED_WAIT} ms in all.
 *
 * @param build Builds the operation.
 * @returns Whether it committed (`false`: one of its checks failed).
 * @throws {Error} The commit's own error, when it is not a lock or the lock outlasts the retries.
 */
export async function committed(build: () => KvAtomic): Promise<boolean> {
  return (await whileLocked(() => build().commit(), LOCKED_WAIT)).ok;
}

/** Commits an operation without checks ({@linkcode committed}). */
export async function commit(build: () => KvAtomic): Promise<void> {
  if (!(await committed(build))) throw new Error("Cannot commit to Deno KV: the commit was rejected");
}

/** Deletes every key under a prefix, as a listing finds them. */
export async function deleteListed(kv: KvLike, prefix: KvKey): Promise<void> {
  const batch: KvKey[] = [];
  for await (const { key } of kv.list({ prefix }, { batchSize: 100 })) {
    batch.push(key);
    if (batch.length === DELETES_PER_COMMIT) await deleteAll(kv, batch.splice(0));
  }
  await deleteAll(kv, batch);
}

/** Deletes keys, a commit's worth at a time. */
export async function deleteKeys(kv: KvLike, keys: readonly KvKey[]): Promise<void> {
  for (let first = 0; first < keys.length; first += DELETES_PER_COMMIT) {
    await deleteAll(kv, keys.slice(first, first + DELETES_PER_COMMIT));
  }
}

async function deleteAll(kv: KvLike, keys: KvKey[]): Promise<void> {
  if (keys.length === 0) return;
  await commit(() => {
    const operation = kv.atomic();
    for (const key of keys) operation.delete(key);
    return operation;
  });
}
