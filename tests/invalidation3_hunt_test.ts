/**
 * Invalidation (RFC 9111 §4.4), hunted a third time: what an unsafe request invalidates when
 * `fetch` rejects although the origin answered it with a non-error status.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { CachedSession } from "../mod.ts";
import { loopback } from "./_fixtures.ts";

// RFC 9111 §4.4: a non-error response to an unsafe request invalidates its target URI, and the
// same-origin Location. With `redirect: "error"`, fetch rejects on a redirect (Deno, Node and Bun
// alike, Location or not) after the origin has answered the request: the cache saw no response,
// invalidated nothing, and went on serving what the POST had changed. The cache now asks with
// `redirect: "manual"`, invalidates on the redirect, and rejects as fetch does.
Deno.test("invalidation3 hunt: an unsafe request that refuses redirects and gets one still invalidates, and rejects as fetch does", async () => {
  let version = 1;
  let posts = 0;
  const server = await loopback((request, response) => {
    if (request.method !== "GET") {
      posts++;
      version++;
      request.resume();
      return void response.writeHead(303, { location: "/other" }).end();
    }
    response.writeHead(200, { "cache-control": "max-age=600" }).end(`v${version} ${request.url}`);
  });
  const seen = async (session: CachedSession, path: string) => {
    const response = await session.fetch(`${server.url}${path}`);
    return `${response.fromCache} ${await response.text()}`;
  };
  try {
    // A session that sends POSTs past the cache, and one that stores them (and PUTs).
    for (const allowedMethods of [["GET", "HEAD"], ["GET", "HEAD", "POST", "PUT"]]) {
      for (const method of ["POST", "PUT"]) {
        const session = new CachedSession({ allowedMethods });
        try {
          await seen(session, "/r");
          await seen(session, "/other");
          const before = posts;
          const rejected = await session.fetch(`${server.url}/r`, {
            method,
            body: "change",
            redirect: "error",
          })
            .then(() => "resolved", (error: Error) => error.name);
          assertEquals(rejected, "TypeError", `${method} ${allowedMethods}`);
          assertEquals(posts, before + 1); // sent once, as fetch sends it
          assertEquals(await seen(session, "/r"), `false v${version} /r`, `${method} ${allowedMethods}`);
          assertEquals(
            await seen(session, "/other"),
            `false v${version} /other`,
            `${method} ${allowedMethods}`,
          );
        } finally {
          await session.close();
        }
      }
    }
  } finally {
    await server.close();
  }
});
