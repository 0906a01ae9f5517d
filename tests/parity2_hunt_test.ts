/**
 * A second hunt for what `session.fetch` gives differently from the runtime's own `fetch`, run on
 * Deno, Node 22, Node 24 and Bun: arguments fetch refuses. Each test compares with plain `fetch`
 * on the runtime it runs on, over a loopback origin.
 *
 * @module
 */

import { CachedSession } from "../mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { loopback, patterned } from "./_fixtures.ts";

/** An origin whose responses are fresh for a minute: `?n=` bytes, chunked unless `&cl=1`. */
function freshOrigin() {
  return loopback((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const length = Number(url.searchParams.get("n") ?? 5);
    const declared = url.searchParams.get("cl") === "1" ? { "content-length": String(length) } : {};
    response.writeHead(200, { "cache-control": "max-age=60", ...declared });
    response.end(patterned(length));
  });
}

/** How a call settles: the status it answered with, or the class of the error it threw. */
async function outcome(call: () => Promise<Response>): Promise<string> {
  try {
    const response = await call();
    await response.arrayBuffer();
    return `answered ${response.status}`;
  } catch (error) {
    return `threw ${(error as Error).constructor.name}`;
  }
}

// A `signal` that was no AbortSignal reached the session's own code, which called its methods: the
// caller got a TypeError about `signalOf(...)?.throwIfAborted`, where fetch names the signal.
Deno.test("parity2: a signal that is no AbortSignal is refused as fetch refuses it, on a miss and on a hit", async () => {
  const origin = await freshOrigin();
  const session = new CachedSession({ onError: () => {} });
  try {
    const url = `${origin.url}/signal`;
    await (await session.fetch(url)).arrayBuffer();
    for (const signal of [{}, "signal", false]) {
      const init = { signal } as unknown as RequestInit;
      const plain = await fetch(url, init).then(() => undefined, (error: Error) => error);
      assert(plain instanceof TypeError && plain.message.includes("AbortSignal"), `plain fetch: ${plain}`);
      for (const target of [url, `${origin.url}/signal-miss`]) {
        const cached = await session.fetch(target, init).then(() => undefined, (error: Error) => error);
        assert(
          cached instanceof TypeError && cached.message.includes("AbortSignal"),
          `${target} with ${JSON.stringify(signal)}: ${cached}`,
        );
      }
    }
    assertEquals(origin.hitsOf("/signal-miss"), 0);
  } finally {
    await session.close();
    await origin.close();
  }
});

// An init that was no object (`fetch(url, "x")`), or a `duplex` other than "half", was read as an
// object of its members: served from the cache, and sent on a miss, where Deno's and Node's fetch
// throw a TypeError (Bun's takes them). Now each is refused exactly where the runtime's fetch is.
Deno.test("parity2: an init fetch refuses (no object, an unknown duplex) is refused on a hit and a miss as by fetch", async () => {
  const origin = await freshOrigin();
  const session = new CachedSession({ onError: () => {} });
  try {
    const inits: [string, unknown][] = [
      ["a string", "x"],
      ["a number", 5],
      ["true", true],
      ["duplex full", { duplex: "full" }],
    ];
    const url = `${origin.url}/init`;
    await (await session.fetch(url)).arrayBuffer();
    for (const [name, init] of inits) {
      const expected = await outcome(() => fetch(url, init as RequestInit));
      const hit = await outcome(() => session.fetch(url, init as RequestInit));
      const miss = await outcome(() =>
        session.fetch(`${origin.url}/init-${name.replace(" ", "-")}`, init as RequestInit)
      );
      assertEquals([hit, miss], [expected, expected], `an init of ${name}`);
    }
  } finally {
    await session.close();
    await origin.close();
  }
});

// On Bun the cache hands a miss's body over in a default stream (as Bun's fetch body is no byte
// stream), and Bun's `clone()` tees a default stream without copying its chunks (Fetch copies
// them for the clone): writing into a chunk the original read changed what its clone read. Plain
// fetch's clone, and the cache's on Deno and Node (byte streams), read bytes of their own.
