/**
 * Deno KV requests within a time limit: a KV Connect server that accepts and never answers held
 * every call for good on Node and Bun (`@deno/kv` times nothing), and for 30 s on Deno.
 *
 * @module
 */

import type { KvAtomic, KvLike } from "../backends/deno_kv.ts";
import { type Deadlines, noAnswer } from "./deadline.ts";

/** A Deno KV request given up at its time limit ({@linkcode noAnswer}). */
export function timedOut(operation: string, ms: number): Error {
  return noAnswer("Deno KV", operation, ms);
}

/**
 * The KV Connect requests of one database that `@deno/kv` opens (Node, Bun), each ended at the
 * time limit, and all at once by {@linkcode KvConnectRequests.end}. `@deno/kv` times none: one the
 * storage had given up on went on, its socket open, until the runtime's own limit (five minutes on
 * Node) or for good, and the process with it, closed or not.
 */
export class KvConnectRequests {
  #fetch: typeof fetch;
  #deadlines: Deadlines;
  #underway = new Set<AbortController>();
  #ended = false;

  /**
   * @param fetch The fetch to send the requests with.
   * @param deadlines The time limit of one request, its body included.
   */
  constructor(fetch: typeof globalThis.fetch, deadlines: Deadlines) {
    this.#fetch = fetch;
    this.#deadlines = deadlines;
  }

  /**
   * The fetch to give `@deno/kv`: it reads each response whole within the time limit (those of
   * KV Connect are small, and read whole at once), so that nothing of a request outlives it.
   * Once ended, it refuses every request.
   */
  readonly fetch: typeof fetch = (input, init) => {
    if (this.#ended) return Promise.reject(closed());
    const request = new AbortController();
    this.#underway.add(request);
    const signal = init?.signal ? AbortSignal.any([init.signal, request.signal]) : request.signal;
    const work = this.#fetch(input, { ...init, signal }).then(readWhole);
    return this.#deadlines.race(work, () => {
      const error = timedOut("send a request", this.#deadlines.ms);
      request.abort(error);
      return error;
    }).finally(() => this.#underway.delete(request));
  };

  /** Ends the requests under way, and refuses those asked for later (a retry of `@deno/kv`'s). */
  end(): void {
    this.#ended = true;
    for (const request of this.#underway) request.abort(closed());
  }
}

/** The error of a KV Connect request ended by close(). */
function closed(): DOMException {
  return new DOMException("The storage is closed", "AbortError");
}

/** A response with its body read whole, as it came (its URL too). */
async function readWhole(response: Response): Promise<Response> {
  const bytes = await response.arrayBuffer();
  const { status, statusText, headers, url } = response;
  const whole = new Response(bytes.byteLength === 0 ? null : bytes, { status, statusText, headers });
  Object.defineProperty(whole, "url", { value: url });
  return whole;
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
