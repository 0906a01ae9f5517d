/**
 * The status line and header fields of a served response: what the origin sent, on hits and
 * misses, after `clone()`, and when a server hands the response on. On Deno a 200 response of
 * bytes is built from its body alone and its fields added after (src/served_body.ts,
 * `BYTES_ALONE`); these tests hold whichever way a response is built.
 *
 * @module
 */

import { deepEqual, equal } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type AddressInfo, createServer } from "node:net";
import { CachedSession } from "../mod.ts";
import { origin } from "./_origin.ts";
import { runsOn } from "./_runtime.ts";

const FIELDS: Record<string, string> = {
  "cache-control": "max-age=60",
  "content-type": "text/plain; charset=utf-8",
  "etag": '"v1"',
  "x-served-by": "origin",
};

/** A session whose origin answers `status` with `statusText`, its length declared or not. */
function session(status: number, statusText: string, declared: boolean) {
  const server = origin(() => {
    const headers = new Headers(FIELDS);
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    if (declared) headers.set("content-length", "5");
    return new Response("hello", { status, statusText, headers });
  });
  return new CachedSession({ fetch: server.fetch, allowedCodes: [200, 404], storeSetCookie: true });
}

/** The fields of a response that the origin set, by name (Bun lists `set-cookie` last). */
function fieldsOf(response: Response): [string, string][] {
  return [...response.headers].filter(([name]) => name in FIELDS || name === "set-cookie")
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

const EXPECTED = [
  ["cache-control", "max-age=60"],
  ["content-type", "text/plain; charset=utf-8"],
  ["etag", '"v1"'],
  ["set-cookie", "a=1"],
  ["set-cookie", "b=2"],
  ["x-served-by", "origin"],
];

Deno.test("served response: status, status text and fields are the origin's on a miss, a hit and their clones", async () => {
  for (
    const [status, statusText] of [[200, "OK"], [200, "Fine"], [200, ""], [404, "Gone Fishing"]] as const
  ) {
    for (const declared of [true, false]) {
      const s = session(status, statusText, declared);
      const label = `${status} ${statusText}, length declared ${declared}`;
      const miss = await s.fetch("http://127.0.0.1/item");
      const missCopy = miss.clone();
      equal(await miss.text(), "hello", label);
      const hit = await s.fetch("http://127.0.0.1/item");
      equal(hit.fromCache, true, label);
      for (const response of [miss, missCopy, hit, hit.clone()]) {
        deepEqual(
          [response.status, response.statusText, response.ok],
          [status, statusText, status === 200],
          label,
        );
        deepEqual(fieldsOf(response), EXPECTED, label);
      }
      await s.close();
    }
  }
});

/** An opaque redirect, as a browser's fetch answers `redirect: "manual"`: status 0, which the Response constructor refuses. */
function opaqueRedirect(): Response {
  return Object.defineProperties(new Response(null), {
    status: { value: 0 },
    ok: { value: false },
    type: { value: "opaqueredirect" },
    clone: { value: opaqueRedirect },
  });
}

Deno.test("served response: a status the Response constructor refuses (an opaque redirect's 0) is kept by clone(), with its type", async () => {
  const s = new CachedSession({ fetch: () => Promise.resolve(opaqueRedirect()) });
  const response = await s.fetch("http://127.0.0.1/moved", { redirect: "manual" });
  const copy = response.clone();
  for (const served of [response, copy, copy.clone()]) {
    deepEqual([served.status, served.ok, served.type], [0, false, "opaqueredirect"]);
  }
  equal(copy.fromCache, false);
  await s.close();
});

Deno.test({
  name: "served response: a hit handed on by Deno.serve reaches the client with its status and fields",
  ...runsOn("deno", "Deno.serve"),
  fn: async () => {
    const s = session(200, "OK", true);
    await (await s.fetch("http://127.0.0.1/item")).text();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
      const hit = await s.fetch("http://127.0.0.1/item");
      equal(hit.fromCache, true);
      return hit;
    });
    try {
      const relayed = await fetch(`http://127.0.0.1:${server.addr.port}/`);
      equal(relayed.status, 200);
      equal(await relayed.text(), "hello");
      deepEqual(fieldsOf(relayed), EXPECTED);
      equal(relayed.headers.get("content-length"), "5");
    } finally {
      await server.shutdown();
      await s.close();
    }
  },
});

Deno.test("served response: a reason phrase that is not ASCII is the one fetch gives, on a miss, a hit and a clone", async () => {
  // Node's fetch gives such a phrase as UTF-8 text, which its own Response constructor refuses.
  const server = createServer((socket) => {
    socket.once("data", () => {
      socket.end(Buffer.concat([
        Buffer.from("HTTP/1.1 200 "),
        Buffer.from("OK \u2713 \u0423\u0441\u043f\u0435\u0445", "utf8"),
        Buffer.from("\r\ncache-control: max-age=60\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"),
      ]));
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const cached = new CachedSession();
  try {
    const plain = await fetch(url);
    await plain.arrayBuffer();
    const miss = await cached.fetch(url);
    const hit = await cached.fetch(url);
    for (const response of [miss, hit, hit.clone()]) {
      deepEqual([response.status, response.statusText, await response.text()], [
        200,
        plain.statusText,
        "hello",
      ]);
    }
    deepEqual([miss.fromCache, hit.fromCache], [false, true]);
  } finally {
    await cached.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
