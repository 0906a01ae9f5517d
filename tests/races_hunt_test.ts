/**
 * Races within one process, hunted: interleavings where the order in which storage operations
 * land decides what is served. Two requests for one URL, the older one's body ending later; a
 * revalidation's update landing after a full replacement; a background refresh against a request
 * of its caller's; two sessions over one backend. After everything settles, nothing served may be
 * older than something the cache served already (RFC 9111 §4: the most recent response).
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { MemoryBackend, MemoryStorage } from "../backends/memory.ts";
import { CachedSession, type CachedSessionOptions } from "../mod.ts";
import { BACKENDS, dispose, until, within } from "./_fixtures.ts";
import { Clock, reached } from "./_origin.ts";

const URL_A = "http://127.0.0.1/resource";
const encoder = new TextEncoder();

/**
 * An origin whose resource is at `version` (its body `v<version>`, its ETag `"v<version>"`),
 * answering an `If-None-Match` of the current version with a `304`. The body of a request that
 * `holdNext()` chose is sent up to its last byte, which waits for the returned release.
 */
function versioned(headers: Record<string, string> = { "cache-control": "max-age=60" }) {
  let version = 1;
  let calls = 0;
  let held: Promise<void> | undefined;
  const fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    calls++;
    const request = new Request(input, init);
    const etag = `"v${version}"`;
    const fields = { ...headers, etag };
    if (request.headers.get("if-none-match") === etag) {
      return Promise.resolve(new Response(null, { status: 304, headers: fields }));
    }
    const text = `v${version}`;
    const gate = held;
    held = undefined;
    if (gate === undefined) return Promise.resolve(new Response(text, { headers: fields }));
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          return controller.enqueue(encoder.encode(text.slice(0, 1)));
        }
        await gate;
        controller.enqueue(encoder.encode(text.slice(1)));
        controller.close();
      },
    });
    return Promise.resolve(new Response(body, { headers: fields }));
  };
  return {
    fetch: fetch as typeof globalThis.fetch,
    calls: () => calls,
    change: () => void version++,
    /** Holds the last byte of the next response's body until the returned function is called. */
    holdNext(): () => void {
      let release!: () => void;
      held = new Promise<void>((resolve) => release = resolve);
      return release;
    },
  };
}

/** A memory storage that can hold the next `set` until the returned function is called. */
class GatedSets extends MemoryStorage {
  #gate: Promise<void> | undefined;
  /** How many sets wait at the gate. */
  waiting = 0;
  /** How many sets have landed. */
  landed = 0;
  holdNext(): () => void {
    let release!: () => void;
    this.#gate = new Promise<void>((resolve) => release = resolve);
    return release;
  }
  override async set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    const gate = this.#gate;
    this.#gate = undefined;
    if (gate !== undefined) {
      this.waiting++;
      await gate;
      this.waiting--;
    }
    await super.set(key, value, deleteAt);
    this.landed++;
  }
}

/** Fetches through a session and reads the body whole: `body:fromCache`. */
async function served(session: CachedSession, init?: RequestInit): Promise<string> {
  const response = await session.fetch(URL_A, init);
  return `${await response.text()}:${response.fromCache}`;
}

for (const backend of BACKENDS) {
  Deno.test({
    name:
      `races: an older response whose body ends after a newer one's is not stored over it (${backend.name})`,
    ignore: backend.skip !== undefined,
    async fn() {
      // The slow body of the request sent first was written over the response a later
      // `no-cache` request had stored and served: the next hits served the older version.
      const origin = versioned();
      const cache = await backend.open();
      const session = new CachedSession({ fetch: origin.fetch, backend: cache });
      try {
        const release = origin.holdNext();
        const older = await session.fetch(URL_A);
        const olderBody = older.text();
        origin.change();
        equal(await served(session, { cache: "no-cache" }), "v2:false");
        equal(await served(session), "v2:true", "the newer response is stored and served");
        release();
        equal(await within(5000, olderBody), "v1", "the older request's caller gets its own response");
        const after = await served(session);
        equal(after.split(":")[0], "v2", "nothing older than what was served already");
      } finally {
        await session.close();
        await dispose(cache);
      }
    },
  });
}

// Two sessions over one backend: a reload through one of them stored the newer version, and the
// slower request of the other, sent before it, wrote the older version over it.
Deno.test("races: a reload through one session is not overwritten by an older response another session over the backend was still reading", async () => {
  const origin = versioned();
  const backend = new MemoryBackend();
  const one = new CachedSession({ fetch: origin.fetch, backend });
  const two = new CachedSession({ fetch: origin.fetch, backend });
  try {
    const release = origin.holdNext();
    const older = (await one.fetch(URL_A)).text();
    origin.change();
    equal(await served(two, { cache: "reload" }), "v2:false");
    release();
    equal(await within(5000, older), "v1");
    equal(await served(one), "v2:true");
    equal(await served(two), "v2:true");
  } finally {
    await one.close();
    await two.close();
  }
});

// A revalidation's `304` freshened the stored response; its update landed after a reload had
// replaced that response with a newer one, and brought the older one back, fresh for a minute.
Deno.test("races: a 304's update that lands after a newer 200 was stored does not bring the older response back", async () => {
  const origin = versioned();
  const storage = new GatedSets();
  const session = new CachedSession({ fetch: origin.fetch, backend: new CacheBackend(storage) });
  try {
    equal(await served(session), "v1:false");
    const release = storage.holdNext();
    // The revalidation is answered 304; its update waits at the storage.
    equal(await served(session, { cache: "no-cache" }), "v1:true");
    await within(5000, until(() => storage.waiting === 1));
    origin.change();
    const newer = await session.fetch(URL_A, { cache: "reload" });
    release();
    equal(await within(5000, newer.text()), "v2");
    equal((await served(session)).split(":")[0], "v2", "the 304's update does not outlive the newer 200");
  } finally {
    await session.close();
  }
});

// The same race where the update never lands in time: the newer write waits for it 2 s at most,
// and once it lands after all it is withdrawn, so that a miss takes its place, not the older one.
Deno.test("races: a 304's update held past the wait of a newer write to its key is withdrawn once it lands", async () => {
  const origin = versioned();
  const storage = new GatedSets();
  const session = new CachedSession({ fetch: origin.fetch, backend: new CacheBackend(storage) });
  try {
    equal(await served(session), "v1:false");
    const release = storage.holdNext();
    equal(await served(session, { cache: "no-cache" }), "v1:true");
    await within(5000, until(() => storage.waiting === 1));
    origin.change();
    const landed = storage.landed;
    equal(await within(5000, served(session, { cache: "reload" })), "v2:false");
    // The reload's write lands first (after waiting 2 s for the update), then the update.
    await within(5000, until(() => storage.landed === landed + 1));
    release();
  } finally {
    await session.close();
  }
  // (Closing waits for the update and its undo. A closed session reads nothing: a second one over
  // the storage tells what stands.)
  const next = new CachedSession({ fetch: origin.fetch, backend: new CacheBackend(storage) });
  try {
    equal((await served(next)).split(":")[0], "v2");
  } finally {
    await next.close();
  }
});

// A stale-while-revalidate refresh, sent before a `no-cache` request of a caller's, read its body
// after that request had stored the newer version, and wrote the older one over it.
Deno.test("races: a background refresh whose body ends after a newer response was stored does not replace it", async () => {
  const origin = versioned({ "cache-control": "max-age=1, stale-while-revalidate=60" });
  const clock = new Clock();
  const background: Promise<unknown>[] = [];
  const options: CachedSessionOptions = {
    fetch: origin.fetch,
    now: clock.fn,
    waitUntil: (work) => void background.push(work),
  };
  const session = new CachedSession(options);
  try {
    equal(await served(session), "v1:false");
    clock.tick(5);
    origin.change();
    const release = origin.holdNext();
    // Served stale; its refresh gets v2, whose body is held.
    equal(await served(session), "v1:true");
    await within(5000, until(() => origin.calls() === 2));
    origin.change();
    equal(await served(session, { cache: "no-cache" }), "v3:false");
    equal(await served(session), "v3:true");
    release();
    await within(5000, Promise.all(background));
    equal(await served(session), "v3:true", "the refresh's older response is not stored over v3");
  } finally {
    await session.close();
  }
});

// Two URLs whose redirects `fetch` followed to one place: the response for the one asked first,
// whose body ended last, took the first place in the alias of where they led, and a request for
// that place was answered with it, older than the one it had been answered with already.
Deno.test("races: where two redirects led is not answered with the older of their responses once the newer one was served", async () => {
  const origin = versioned();
  // `fetch` follows /a and /b to /new, and reaches /new itself for a request of it.
  const follow = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await origin.fetch(input, init);
    return new Request(input, init).url.endsWith("/new") ? response : reached(response, "/new");
  }) as typeof fetch;
  const session = new CachedSession({ fetch: follow });
  const at = async (path: string, init?: RequestInit) => {
    const response = await session.fetch(`http://127.0.0.1${path}`, init);
    return `${await response.text()}:${response.fromCache}`;
  };
  try {
    const release = origin.holdNext();
    const older = (await session.fetch("http://127.0.0.1/b")).text();
    origin.change();
    equal(await at("/a"), "v2:false");
    equal(await at("/new", { cache: "only-if-cached" }), "v2:true", "/new is answered through the alias");
    release();
    equal(await within(5000, older), "v1");
    equal(await at("/new", { cache: "only-if-cached" }), "v2:true", "not the older response /b led to");
    equal(await at("/a"), "v2:true");
  } finally {
    await session.close();
  }
});
