/**
 * Redirects the session follows itself and the aliases of redirects `fetch` followed: probes of
 * their edges (fragments, modes, invalidation of either URL, credentials, methods), each against
 * what the Fetch standard and docs/http-semantics.md ("Redirects", "Invalidation") say.
 */
import { assertEquals } from "./_assert.ts";
import { reached, reply } from "./_origin.ts";
import { scripted as setup } from "./_scripted.ts";
import { loopback } from "./_fixtures.ts";
import { CachedSession } from "../mod.ts";

const ORIGIN = "http://127.0.0.1";

// Fetch §4.4 (HTTP-redirect fetch) via "location URL": "If location is a URL whose fragment is
// null, then set location's fragment to requestFragment". A Location of "/new#" has a fragment,
// the empty one: it is kept, not replaced by the fragment of the URL asked for.
Deno.test("redirect hunt: a Location with an empty fragment keeps it, not the fragment asked for", async () => {
  const s = setup((clock) => (request) =>
    new URL(request.url).pathname === "/old"
      ? reply(null, { location: "/new#" }, { status: 302, clock })
      : reply("new", { "cache-control": "max-age=60" }, { clock })
  );
  try {
    await s.get(undefined, `${ORIGIN}/old#asked`);
    assertEquals(s.origin.requests.map((request) => request.url), [
      `${ORIGIN}/old#asked`,
      `${ORIGIN}/new#`,
    ]);
  } finally {
    await s.session.close();
  }
});

// docs/http-semantics.md, "Invalidation": a POST to the URL asked for drops what a redirect led to
// there as well as the redirect stored for redirect: "manual" (every stored entry of the URL).
Deno.test("redirect hunt: a POST to the redirecting URL drops its redirect stored for manual and where follow led", async () => {
  const s = setup((clock) => (request) => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST") return reply("done", {}, { clock });
    if (path === "/old") {
      return reply(null, { location: "/new", "cache-control": "max-age=600" }, { status: 301, clock });
    }
    return reply(`at ${path}`, { "cache-control": "max-age=600" }, { clock });
  });
  try {
    const seen = async (init: RequestInit) => {
      const { response, body } = await s.get(init, `${ORIGIN}/old`);
      return `${response.status} ${response.fromCache} ${body}`;
    };
    assertEquals(await seen({ redirect: "manual" }), "301 false ");
    assertEquals(await seen({}), "200 false at /new");
    assertEquals(await seen({ redirect: "manual" }), "301 true ");
    await (await s.session.fetch(`${ORIGIN}/old`, { method: "POST", body: "x" })).text();
    assertEquals(await seen({ redirect: "manual" }), "301 false ");
    // The 301 for follow went too; /new itself was not named by the POST.
    assertEquals(await seen({}), "200 true at /new");
    assertEquals(s.origin.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.redirect}`), [
      "GET /old manual",
      "GET /old manual",
      "GET /new manual",
      "POST /old follow",
      "GET /old manual",
      "GET /old manual",
    ]);
  } finally {
    await s.session.close();
  }
});

// docs/http-semantics.md, "Invalidation": a PUT drops every method's entries of its URL, and "the
// responses stored for a URL whose redirect led to one of them": a POST's answer that a 303 led to
// /new is dropped by a PUT to /new (a POST-storing session).
Deno.test("redirect hunt: a PUT to where a POST's redirect led drops that stored POST answer", async () => {
  const s = setup(
    (clock) => (request) => {
      const path = new URL(request.url).pathname;
      if (request.method === "PUT") return reply("put", {}, { clock });
      if (path === "/form") {
        return reached(reply("result", { "cache-control": "max-age=600" }, { clock }), "/result");
      }
      return reply(`at ${path}`, { "cache-control": "max-age=600" }, { clock });
    },
    { allowedMethods: ["GET", "HEAD", "POST"] },
  );
  try {
    const post = async () => {
      const response = await s.session.fetch(`${ORIGIN}/form`, { method: "POST", body: "q" });
      return `${response.fromCache} ${await response.text()}`;
    };
    assertEquals(await post(), "false result");
    assertEquals(await post(), "true result");
    await (await s.session.fetch(`${ORIGIN}/result`, { method: "PUT", body: "x" })).text();
    assertEquals(await post(), "false result");
  } finally {
    await s.session.close();
  }
});

// docs/http-semantics.md, "Redirects": a hit through the session's own steps gives the last step's
// url and redirected: true; a request for where it led, through the
// alias a fetch that follows redirects itself left, gives that URL and redirected: false, as plain
// fetch of /new does. Over a real origin and the runtime's fetch. (No fragments here: Bun's fetch
// keeps them in a response's url, and the session passes a miss's url on as its fetch gives it.)
Deno.test("redirect hunt: url and redirected on hits, stepwise and through an alias", async () => {
  const server = await loopback((request, response) => {
    if (new URL(request.url ?? "/", ORIGIN).pathname === "/old") {
      response.writeHead(308, { location: "/new", "cache-control": "max-age=600" });
      response.end();
      return;
    }
    response.writeHead(200, { "cache-control": "max-age=600" });
    response.end("new");
  });
  const stepwise = new CachedSession();
  const follows = new CachedSession({
    fetch: (input, init) => fetch(input, { ...init, redirect: "follow" }),
  });
  try {
    for (const session of [stepwise, follows]) {
      const shown = async (path: string) => {
        const response = await session.fetch(`${server.url}${path}`);
        await response.text();
        return `${response.url} ${response.redirected} ${response.fromCache}`;
      };
      assertEquals(await shown("/old"), `${server.url}/new true false`);
      assertEquals(await shown("/old"), `${server.url}/new true true`);
      assertEquals(await shown("/new"), `${server.url}/new false true`);
    }
    assertEquals([server.hitsOf("/old"), server.hitsOf("/new")], [2, 2]);
  } finally {
    await stepwise.close();
    await follows.close();
    await server.close();
  }
});
