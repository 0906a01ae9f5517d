/**
 * Hunt for bugs in privacy: no user is served another's response, no secret the cache was told to
 * keep out is stored or shown, and no origin or request can make the cache emit what it should not.
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import type { CacheBackend } from "../backends/base.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";
import { CachedSession } from "../mod.ts";
import { scratch } from "./_fixtures.ts";
import { origin, reply } from "./_origin.ts";

const FRESH = { "cache-control": "max-age=600" };

/** Fails if `secret` is in a record (or a key) the backend holds; returns how many it holds. */
async function assertNotStored(backend: CacheBackend, secret: string): Promise<number> {
  let records = 0;
  for await (const key of backend.storage.keys()) {
    ok(!key.includes(secret), `${secret} in the key ${key}`);
    const bytes = await backend.storage.get(key);
    if (bytes !== undefined) {
      ok(!new TextDecoder("latin1").decode(bytes).includes(secret), `${secret} stored under ${key}`);
    }
    records++;
  }
  return records;
}

/** The backends the tests run on: memory, and a SQLite file of its own. */
function backends(name: string): [string, () => CacheBackend][] {
  return [
    ["memory", () => new MemoryBackend()],
    ["sqlite", () => new SQLiteBackend({ path: join(scratch, `privacy_${name}_${crypto.randomUUID()}.db`) })],
  ];
}

Deno.test("privacy hunt: a keyFn key that ends like a Vary variant's key is refused, so no tenant reads or writes another's variant", async () => {
  // With the keyFn docs/cache-keys.md shows (`<default key>:<encoded tenant>`; encodeURIComponent
  // keeps "."), a tenant named `acme.<digest>` was keyed where tenant acme's Vary variant is
  // stored: it was served acme's response, and its own was stored there, for acme to be served.
  const o = origin((request) =>
    reply(`for ${request.headers.get("x-tenant")} in ${request.headers.get("accept-language")}`, {
      ...FRESH,
      vary: "accept-language",
    })
  );
  const backend = new MemoryBackend();
  const errors: unknown[] = [];
  const session = new CachedSession({
    backend,
    fetch: o.fetch,
    onError: (error) => errors.push(error),
    keyFn: async (request, defaultKey) =>
      `${await defaultKey()}:${encodeURIComponent(request.headers.get("x-tenant") ?? "-")}`,
  });
  const get = async (tenant: string, language: string) => {
    const response = await session.fetch("http://127.0.0.1/page", {
      headers: { "x-tenant": tenant, "accept-language": language },
    });
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    equal(await get("acme", "en"), "false for acme in en");
    equal(await get("acme", "fr"), "false for acme in fr"); // stored beside it, as a variant
    const keys: string[] = [];
    for await (const key of backend.storage.keys()) keys.push(key);
    const variant = keys.find((key) => key.includes(":acme."));
    ok(variant !== undefined, keys.join());
    const impostor = variant.slice(variant.indexOf(":acme.") + 1); // `acme.<digest>`
    // Reading: the impostor is never served acme's French response.
    equal(await get(impostor, "fr"), `false for ${impostor} in fr`);
    equal(errors.length, 1, "the refused key reaches onError");
    // Writing: what the impostor got was not stored where acme's French variant is looked for.
    await session.cache.clear();
    equal(await get(impostor, "fr"), `false for ${impostor} in fr`);
    equal(await get("acme", "en"), "false for acme in en");
    equal(await get("acme", "fr"), "false for acme in fr");
    equal(await get("acme", "fr"), "true for acme in fr");
    // A key that merely holds a dot is still a key.
    equal(await get("acme.example", "en"), "false for acme.example in en");
    equal(await get("acme.example", "en"), "true for acme.example in en");
  } finally {
    await session.close();
  }
});

Deno.test("privacy hunt: a response whose Refresh names an ignored parameter is neither stored nor served to another key", async () => {
  // `Refresh: 0; url=…` is a redirect that browsers follow, and origins echo the request's query in
  // it as they do in Location: it was stored with the secret, and served to requests with another.
  for (const [name, open] of backends("refresh")) {
    const o = origin((request) => {
      const { pathname, search } = new URL(request.url);
      return reply(`for ${search}`, { ...FRESH, refresh: `0; url=${pathname}${search}` });
    });
    const backend = open();
    const session = new CachedSession({ backend, fetch: o.fetch, ignoredParameters: ["api_key"] });
    const get = async (query: string) => {
      const response = await session.fetch(`http://127.0.0.1/report${query}`);
      await response.text();
      return `${response.fromCache} ${response.headers.get("refresh")}`;
    };
    try {
      equal(
        await get("?api_key=SECRET-KEY-A&page=1"),
        "false 0; url=/report?api_key=SECRET-KEY-A&page=1",
        name,
      );
      equal(
        await get("?api_key=SECRET-KEY-B&page=1"),
        "false 0; url=/report?api_key=SECRET-KEY-B&page=1",
        name,
      );
      equal(await assertNotStored(backend, "SECRET"), 0, name);
      // Without an ignored parameter in it, Refresh is stored as before.
      equal(await get("?page=2"), "false 0; url=/report?page=2", name);
      equal(await get("?page=2"), "true 0; url=/report?page=2", name);
    } finally {
      await session.close();
    }
  }
});

Deno.test("privacy hunt: a 304 whose Refresh names an ignored parameter takes the stored response out rather than freshen it", async () => {
  // The same field in a 304 (whose fields are merged into the stored response) was stored too.
  for (const [name, open] of backends("refresh304")) {
    const o = origin((request) => {
      const { pathname, search } = new URL(request.url);
      if (request.headers.get("if-none-match") === '"v1"') {
        return reply(null, { etag: '"v1"', ...FRESH, refresh: `5; url=${pathname}${search}` }, {
          status: 304,
        });
      }
      return reply("report", { etag: '"v1"', "cache-control": "max-age=0" });
    });
    const backend = open();
    const session = new CachedSession({ backend, fetch: o.fetch, ignoredParameters: ["api_key"] });
    const get = async (key: string) => {
      const response = await session.fetch(`http://127.0.0.1/report?api_key=${key}&page=1`);
      await response.text();
      return response;
    };
    try {
      await get("SECRET-KEY-A"); // stored, without Refresh
      await get("SECRET-KEY-A"); // revalidated: the 304 echoes A's key
      const b = await get("SECRET-KEY-B");
      ok(!(b.headers.get("refresh") ?? "").includes("SECRET-KEY-A"), `${name}: ${b.headers.get("refresh")}`);
      await assertNotStored(backend, "SECRET");
    } finally {
      await session.close();
    }
  }
});

Deno.test("privacy hunt: events and onError name a request without the ignored parameters of its fragment", async () => {
  // An implicit grant's token comes in a fragment (`#access_token=…`), where the cache already
  // looks for ignored parameters in a Location: the request's label, in every event and error
  // report, kept it as the caller wrote it, as did an invalidated URL's.
  const o = origin((request) =>
    request.method === "POST"
      ? reply("done", { location: "/done#access_token=SECRET-FROM-ORIGIN&state=1" }, { status: 201 })
      : reply("page", FRESH)
  );
  const reports: string[] = [];
  const session = new CachedSession({
    fetch: o.fetch,
    ignoredParameters: ["access_token"],
    allowedMethods: ["GET", "HEAD", "POST"],
    onEvent: (event) => reports.push(JSON.stringify(event)),
    onError: (error, context) => reports.push(`${String(error)} ${JSON.stringify(context)}`),
    filter: (response) => {
      if (response.url.endsWith("/cb")) throw new Error("filter failed");
      return true;
    },
  });
  try {
    await (await session.fetch("http://127.0.0.1/done#access_token=SECRET-FROM-CALLER&state=1")).text();
    // The filter fails for this one: reported to onError.
    await (await session.fetch("http://127.0.0.1/cb#/callback?access_token=SECRET-FROM-CALLER")).text();
    // Invalidates /done, where its Location leads too: evict events.
    await (await session.fetch("http://127.0.0.1/done", { method: "POST", body: "x" })).text();
    const text = reports.join("\n");
    ok(text.includes('"operation"'), text); // an onError report was made
    ok(text.includes('"invalidated"'), text); // an evict event too
    ok(text.includes("state=1"), text); // the rest of the fragment is still shown
    ok(text.includes("#/callback"), text);
    ok(!text.includes("SECRET"), text);
  } finally {
    await session.close();
  }
});

Deno.test("privacy hunt: without storeSetCookie, a Set-Cookie2 is neither stored nor served from the cache", async () => {
  // (The obsolete RFC 2965 field sets a cookie as Set-Cookie does; it was stored and replayed.)
  for (const [name, open] of backends("cookie2")) {
    const backend = open();
    const o = origin(() => reply("page", { ...FRESH, "set-cookie2": 'sid="SECRET-SID"; Version="1"' }));
    const session = new CachedSession({ backend, fetch: o.fetch });
    try {
      const miss = await session.fetch("http://127.0.0.1/page");
      await miss.text();
      equal(await assertNotStored(backend, "SECRET-SID"), 1, name);
      const hit = await session.fetch("http://127.0.0.1/page");
      await hit.text();
      equal(hit.fromCache, true, name);
      equal(hit.headers.get("set-cookie2"), null, name);
    } finally {
      await session.close();
    }
  }
});
