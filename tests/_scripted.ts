/**
 * A session over a scripted origin (`_origin.ts`) and a clock that the test moves by hand: the
 * setup of every test that scripts what the origin answers.
 *
 * @module
 */

import { CacheBackend, SESSION_CLOCK_GRACE } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { ALIAS_PREFIX } from "../src/cache_keys.ts";
import {
  type CachedResponse,
  CachedSession,
  type CachedSessionOptions,
  type CacheRequestInit,
} from "../mod.ts";
import { Clock, type Origin, origin, reached, reply, type Script } from "./_origin.ts";

/** The URL a scripted test asks for unless it names another. */
export const URL_A = "http://127.0.0.1/resource";

/** A session, its scripted origin and its clock. */
export interface Scripted {
  clock: Clock;
  origin: Origin;
  session: CachedSession;
  /** Fetches `url` (`URL_A` by default) through the session and reads the body whole. */
  get(init?: CacheRequestInit, url?: string): Promise<{ response: CachedResponse; body: string }>;
}

/**
 * Creates a session whose `fetch` is a scripted origin and whose clock moves only when told.
 *
 * @param script What the origin answers, given the clock.
 * @param options More session options.
 * @returns The session, the origin and the clock.
 */
export function scripted(script: (clock: Clock) => Script, options: CachedSessionOptions = {}): Scripted {
  const clock = new Clock();
  const o = origin(script(clock));
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, ...options });
  const get = async (init?: CacheRequestInit, url = URL_A) => {
    const response = await session.fetch(url, init);
    return { response, body: await response.text() };
  };
  return { clock, origin: o, session, get };
}

/** A scripted session that can wait for its background work: a stale response's refresh. */
export interface Refreshing extends Scripted {
  /**
   * Fetches `URL_A`, lets the background refresh it set off land, and tells `body:fromCache`.
   */
  served(init?: CacheRequestInit): Promise<string>;
}

/**
 * Creates a scripted session ({@linkcode scripted}) whose `waitUntil` work (a
 * `stale-while-revalidate` refresh) `served()` waits for.
 *
 * @param script What the origin answers, given the clock.
 * @param options More session options.
 * @returns The session, the origin, the clock and `served()`.
 */
export function refreshing(script: (clock: Clock) => Script, options: CachedSessionOptions = {}): Refreshing {
  const background: Promise<unknown>[] = [];
  const s = scripted(script, { ...options, waitUntil: (p) => background.push(p) });
  const served = async (init?: CacheRequestInit) => {
    const { body, response } = await s.get(init);
    await Promise.all(background.splice(0));
    return `${body}:${response.fromCache}`;
  };
  return { ...s, served };
}

/** A memory storage that notes the `deleteAt` of the last entry and the last alias written. */
export class DeleteAts extends MemoryStorage {
  #last = new Map<"entry" | "alias", { deleteAt: number; at: number }>();

  override set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    this.#last.set(key.startsWith(ALIAS_PREFIX) ? "alias" : "entry", { deleteAt, at: Date.now() });
    return super.set(key, value, deleteAt);
  }

  /** The `deleteAt` of the last record of that kind written, if any. */
  written(kind: "entry" | "alias"): number | undefined {
    return this.#last.get(kind)?.deleteAt;
  }

  /**
   * The `deleteAt` of the last record of that kind written, if any, on the clock of the session
   * that wrote it, which read `sessionNow` then: a session with its own clock has the storage keep
   * every record SESSION_CLOCK_GRACE longer, and as many whole seconds as its clock ran behind
   * the real one at the write (a test's clock starts at the real time rounded down to a second,
   * and a loaded machine may take seconds to get to the write).
   */
  writtenOnSessionClock(kind: "entry" | "alias", sessionNow: number): number | undefined {
    const last = this.#last.get(kind);
    if (last === undefined) return undefined;
    const behind = last.at - sessionNow;
    const shift = Math.abs(behind) < 1000 ? 0 : Math.ceil(behind / 1000) * 1000;
    return last.deleteAt - SESSION_CLOCK_GRACE - shift;
  }
}

/**
 * How long after a response arrives the storage is asked to keep its entry.
 *
 * @param headers The response's fields.
 * @param options More session options.
 * @returns Seconds.
 */
export async function keptFor(
  headers: Record<string, string>,
  options: CachedSessionOptions = {},
): Promise<number> {
  const clock = new Clock();
  const o = origin(() => reply("x", headers, { clock }));
  const storage = new DeleteAts();
  const backend = new CacheBackend(storage);
  const session = new CachedSession({ fetch: o.fetch, now: clock.fn, backend, ...options });
  await (await session.fetch(URL_A)).text();
  await session.close();
  return (storage.writtenOnSessionClock("entry", clock.now)! - clock.now) / 1000;
}

/**
 * A memory storage that can hold the next read of an entry, or the next call of a delete (`keys`,
 * `delete` or `clear`), until the returned function is called.
 */
export class Gated extends MemoryStorage {
  #read: Promise<void> | undefined;
  #delete: Promise<void> | undefined;
  /** How many calls wait at a gate. */
  waiting = 0;
  holdNextRead(): () => void {
    let release!: () => void;
    this.#read = new Promise<void>((resolve) => release = resolve);
    return release;
  }
  holdNextDelete(): () => void {
    let release!: () => void;
    this.#delete = new Promise<void>((resolve) => release = resolve);
    return release;
  }
  async #pass(gate: Promise<void>): Promise<void> {
    this.waiting++;
    await gate;
    this.waiting--;
  }
  override async get(key: string): Promise<Uint8Array | undefined> {
    // (Read before the gate: what the read returns is what the storage held when it began.)
    const value = await super.get(key);
    const gate = this.#read;
    if (gate === undefined || value === undefined) return value;
    this.#read = undefined;
    await this.#pass(gate);
    return value;
  }
  #deleteGate(): Promise<void> {
    const gate = this.#delete;
    this.#delete = undefined;
    return gate === undefined ? Promise.resolve() : this.#pass(gate);
  }
  override async *keys(prefix?: string): AsyncIterableIterator<string> {
    await this.#deleteGate();
    yield* super.keys(prefix);
  }
  override async delete(keys: string[]): Promise<void> {
    await this.#deleteGate();
    await super.delete(keys);
  }
  override async clear(): Promise<void> {
    await this.#deleteGate();
    await super.clear();
  }
}

/**
 * A session over a `fetch` that follows redirects itself (as a custom one may, whatever it is
 * asked): `/a` redirects to where `location(url)` says, with the userinfo `fetch` sends there, and
 * every URL answers with the userinfo it was asked with, as an origin that reads
 * `Authorization: Basic` would. It reads the URL itself: Node's and Bun's `Request` refuse userinfo.
 */
export function followingSession(
  location: (url: URL) => string,
): { session: CachedSession; get: (url: string) => Promise<string>; calls: () => number } {
  let calls = 0;
  const fetch = ((input: RequestInfo | URL) => {
    calls++;
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname !== "/a") {
      return Promise.resolve(
        reply(`b for ${url.username}:${url.password}`, { "cache-control": "max-age=600" }),
      );
    }
    const to = new URL(location(url));
    return Promise.resolve(
      reached(reply(`b for ${to.username}:${to.password}`, { "cache-control": "max-age=600" }), to.href),
    );
  }) as typeof globalThis.fetch;
  const session = new CachedSession({ fetch });
  const get = async (url: string) => {
    const response = await session.fetch(url);
    return `${response.fromCache} ${await response.text()}`;
  };
  return { session, get, calls: () => calls };
}
