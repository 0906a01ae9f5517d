/**
 * `@x/http-cache` on Deno Deploy: an app whose upstream API calls are cached in Deno KV, the
 * project's own database on Deploy (`new DenoKVBackend()` opens it; no configuration).
 *
 * On Deploy the app is `Deno.serve(handler)`. Run locally, this file also starts a stand-in
 * upstream on 127.0.0.1, calls the app twice and exits; KV is then a local file in `DENO_DIR`:
 *
 *     deno run --unstable-kv --allow-net=127.0.0.1 examples/deno_deploy.ts
 *
 * @module
 */

import { CachedSession } from "@x/http-cache";
import { DenoKVBackend } from "@x/http-cache/deno-kv";

// The upstream API the app calls (on Deploy: a real API somewhere else).
let upstreamRequests = 0;
const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
  upstreamRequests++;
  return Response.json({ forecast: "sunny" }, { headers: { "cache-control": "max-age=300" } });
});
const upstreamUrl = `http://127.0.0.1:${upstream.addr.port}/forecast`;

// One session for the whole app, in KV: every isolate of the deployment shares its entries.
const session = new CachedSession({ backend: new DenoKVBackend() });

async function handler(_request: Request): Promise<Response> {
  const response = await session.fetch(upstreamUrl);
  return new Response(await response.text(), {
    headers: { "content-type": "application/json", "x-cache": response.fromCache ? "hit" : "miss" },
  });
}

// On Deno Deploy this line is the whole server: Deno.serve(handler);
const app = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
try {
  for (const label of ["1st request", "2nd request"]) {
    const response = await fetch(`http://127.0.0.1:${app.addr.port}/`);
    await response.text();
    console.log(`${label}: ${response.headers.get("x-cache")} (upstream requests: ${upstreamRequests})`);
  }
} finally {
  await session.close();
  await app.shutdown();
  await upstream.shutdown();
}
