/**
 * Second hunt for bugs in privacy: the cache never serves one user (or tenant) another's response,
 * and never stores a secret it was told to keep out.
 */
import { equal } from "node:assert/strict";
import { CachedSession } from "../mod.ts";
import { loopback } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";

const FRESH = { "cache-control": "max-age=600" };

Deno.test("privacy2 hunt: requests that set another Host never share an entry, as Bun sends that Host", async () => {
  // Bun's fetch sends a Host the caller sets, and an origin serves the virtual host it names: the
  // key held the URL alone, so tenant b was served tenant a's response from the cache.
  const o = origin((request) => reply(`for ${request.headers.get("host")}`, FRESH));
  const session = new CachedSession({ fetch: o.fetch });
  try {
    const get = async (host?: string) => {
      const response = await session.fetch("http://example.test/page", host ? { headers: { host } } : {});
      return `${await response.text()}${response.fromCache ? " (cached)" : ""}`;
    };
    equal(await get("tenant-a.example"), "for tenant-a.example");
    equal(await get("tenant-b.example"), "for tenant-b.example");
    equal(await get("tenant-a.example"), "for tenant-a.example (cached)");
    equal(await get("Tenant-A.example"), "for Tenant-A.example"); // as written, as other credentials are
    // A Host that names the URL's own host (in any case) changes nothing: it shares the entry.
    equal(await get(), "for null");
    equal(await get("EXAMPLE.test"), "for null (cached)");
    equal(o.calls, 4);
  } finally {
    await session.close();
  }
});

Deno.test("privacy2 hunt: over the network, each Host is answered as the runtime's fetch answers it", async () => {
  // The same through the runtime's own fetch: on Bun the origin sees the Host given (and tenant b got
  // tenant a's page from the cache); on Deno and Node it sees the URL's, and both get that.
  const server = await loopback((request, response) => {
    response.writeHead(200, FRESH).end(`host=${request.headers.host}`);
  });
  const session = new CachedSession();
  try {
    for (const host of ["tenant-a.example", "tenant-b.example"]) {
      const plain = await (await fetch(`${server.url}/page`, { headers: { host } })).text();
      const cached = await session.fetch(`${server.url}/page`, { headers: { host } });
      equal(await cached.text(), plain, host);
    }
  } finally {
    await session.close();
    await server.close();
  }
});
