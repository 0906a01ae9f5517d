/**
 * Deno KV requests within a time limit: a KV Connect server that accepts and never answers held
 * every call for good on Node and Bun (`@deno/kv` times nothing), and for 30 s on Deno.
 *
 * @module
 */

import type { KvAtomic, KvLike } from "../backends/deno_kv.ts";
import type { Deadlines } from "./deadline.ts";

/** The error of a request to KV that took longer than its time limit. */
export function timedOut(operation: string, ms: number): Error {
  const error = new Error(`Cannot ${operation}: no answer from Deno KV within ${ms} ms`);
  error.name = "TimeoutError";
  return error;
}

/** Settles as `work` does, or fails once its time limit has passed ({@linkcode timedOut}). */
type Race = <T>(work: Promise<T>, operation: string) => Promise<T>;

/**
 * A database each of whose requests fails after the time limit: its reads, commits, and the
 * pages of its listings (each step of one, as a step may fetch the next page).
 */
export function timed(kv: KvLike, deadlines: Deadlines): KvLike {
  const race: Race = (work, operation) => deadlines.race(work, () => timedOut(operation, deadlines.ms));
  return {
    get: (key) => race(kv.get(key), "read"),
    list: (selector, options) => timedList(kv.list(selector, options), race),
    atomic: () => timedAtomic(kv.atomic(), race),
    close: () => kv.close(),
  };
}

async function* timedList<T>(
  list: AsyncIterable<T>,
  race: Race,
): AsyncIterableIterator<T> {
  const iterator = list[Symbol.asyncIterator]();
  try {
    for (;;) {
      const step = await race(iterator.next(), "list");
      if (step.done) return;
      yield step.value;
    }
  } finally {
    // Not waited for: after a step given up on, a generator's return would wait for that step.
    Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

function timedAtomic(
  atomic: KvAtomic,
  race: Race,
): KvAtomic {
  const operation: KvAtomic = {
    check: (...checks) => (atomic.check(...checks), operation),
    set: (key, value, options) => (atomic.set(key, value, options), operation),
    delete: (key) => (atomic.delete(key), operation),
    commit: () => race(atomic.commit(), "commit"),
  };
  return operation;
}
