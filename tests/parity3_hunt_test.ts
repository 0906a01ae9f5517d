/**
 * A third hunt for what `session.fetch` gives differently from the runtime's own `fetch`, run on
 * Deno, Node 22, Node 24 and Bun: `Request` subclasses, and the shape of the responses. Each test
 * compares with plain `fetch` on the runtime it runs on, over a loopback origin.
 *
 * @module
 */

import { CachedSession } from "../mod.ts";
import { assertEquals } from "./_assert.ts";
import { loopback } from "./_fixtures.ts";

/** An origin that answers what it was asked (method, path, `X-Who`), fresh for a minute. */
function echoOrigin() {
  return loopback(async (request, response) => {
    for await (const _ of request);
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    if (path.endsWith("/moved")) {
      response.writeHead(302, { location: "plain", "cache-control": "max-age=60" });
      return void response.end();
    }
    if (path.endsWith("/none")) return void response.writeHead(204, { "cache-control": "max-age=60" }).end();
    response.writeHead(200, { "cache-control": "max-age=60", "content-type": "text/plain" });
    response.end(`${request.method} ${path} x=${request.headers["x-who"] ?? "-"}`);
  });
}

/** How a call settles: the body it answered with, or the class of the error it threw. */
async function outcome(call: () => Promise<Response>): Promise<string> {
  try {
    return `answered ${JSON.stringify(await (await call()).text())}`;
  } catch (error) {
    return `threw ${(error as Error).constructor.name}`;
  }
}

// Deno's and Node's fetch send what a `Request` holds, whatever getters a subclass of it overrides
// (a framework's request class with its own `url`); the session read the getters. It stored the
// response to one URL under the key of the URL the getter named, and served it to requests for that
// one; it served a GET's response as a HEAD's, without its body, to a class that said HEAD; it sent
// the header fields the getter gave; and refused a request whose getter gave an aborted signal.
// (Bun's fetch reads the getters: there the session does too.)
Deno.test("parity3: a Request subclass whose getters say otherwise is fetched, keyed and served as fetch sends it", async () => {
  const origin = await echoOrigin();
  class OtherUrl extends Request {
    override get url(): string {
      return super.url.replace("/real", "/named");
    }
  }
  class OtherMethod extends Request {
    override get method(): string {
      return "HEAD";
    }
  }
  class OtherHeaders extends Request {
    override get headers(): Headers {
      return new Headers({ "x-who": "getter" });
    }
  }
  class OtherSignal extends Request {
    override get signal(): AbortSignal {
      return AbortSignal.abort();
    }
  }
  const kinds = { url: OtherUrl, method: OtherMethod, headers: OtherHeaders, signal: OtherSignal };
  const session = new CachedSession({ onError: () => {} });
  const got: Record<string, string[]> = {};
  const expected: Record<string, string[]> = {};
  try {
    for (const [name, Kind] of Object.entries(kinds)) {
      const real = `${origin.url}/${name}/real`;
      const named = `${origin.url}/${name}/named`;
      const make = () => new Kind(real, name === "headers" ? { headers: { "x-who": "held" } } : {});
      const plain = [await outcome(() => fetch(make())), await outcome(() => fetch(named))];
      const cached = [
        await outcome(() => session.fetch(make())),
        await outcome(() => session.fetch(named)),
        // (A hit, for a request built the same way.)
        await outcome(() => session.fetch(make())),
      ];
      got[name] = cached;
      expected[name] = [...plain, plain[0]!];
    }
    assertEquals(got, expected);
  } finally {
    await session.close();
    await origin.close();
  }
});

/** What a caller sees of a response, read to its end: its body is read, then read again. */
async function shape(response: Response): Promise<unknown[]> {
  const skipped = new Set(["date", "age", "connection", "keep-alive", "transfer-encoding"]);
  const fields = [...response.headers].filter(([name]) => !skipped.has(name));
  const unread = [response.bodyUsed, response.body === null];
  const copy = response.clone();
  const text = await response.text();
  const again = await response.text().then(() => "read again", (error: Error) => error.constructor.name);
  const cloned = (() => {
    try {
      response.clone();
      return "cloned";
    } catch (error) {
      return (error as Error).constructor.name;
    }
  })();
  const { status, statusText, ok, type, url, redirected } = response;
  return [
    status,
    statusText,
    ok,
    type,
    url,
    redirected,
    fields,
    ...unread,
    text,
    await copy.text(),
    again,
    cloned,
  ];
}

// Not a bug found: a guard. A miss and a hit look as plain fetch's response does, on each runtime:
// status, reason phrase, `ok`, `type`, `url`, `redirected`, header fields, a body or none, and what
// a second read or a clone of a read response does.
Deno.test("parity3: a miss and a hit have the shape of plain fetch's response, for a GET, a HEAD, a 204 and redirects", async () => {
  const origin = await echoOrigin();
  const session = new CachedSession({ onError: () => {} });
  try {
    const calls: [string, RequestInit | undefined][] = [
      ["/plain", undefined],
      ["/plain", { method: "HEAD" }],
      ["/none", undefined],
      ["/moved", undefined],
      ["/moved", { redirect: "manual" }],
    ];
    for (const [path, init] of calls) {
      const url = `${origin.url}/${init?.method ?? init?.redirect ?? "get"}${path}`;
      const label = `${init?.method ?? "GET"} ${path} ${init?.redirect ?? ""}`;
      const expected = await shape(await fetch(url, init));
      const miss = await session.fetch(url, init);
      assertEquals(await shape(miss), expected, `${label}: a miss`);
      const hit = await session.fetch(url, init);
      assertEquals([hit.fromCache, await shape(hit)], [true, expected], `${label}: a hit`);
    }
  } finally {
    await session.close();
    await origin.close();
  }
});
