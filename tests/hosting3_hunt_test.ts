/**
 * The library where it is deployed, third pass: a runtime with no Node built-in modules
 * (Cloudflare Workers without Node compatibility, Shopify Oxygen, a browser), which must still
 * load the main entry point and the memory backend.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { builtinModules } from "node:module";
import { runsOn, start } from "./_runtime.ts";
import { within } from "./_fixtures.ts";

const ROOT = new URL("../", import.meta.url).href;

/** An import map under which every `node:` module fails to load, as where there are none. */
const NO_NODE_MODULES = "data:application/json," + JSON.stringify({
  imports: Object.fromEntries(
    builtinModules.filter((name) => !name.startsWith("_")).map((name) => [
      `node:${name.replace(/^node:/, "")}`,
      `data:text/javascript,throw new Error("no module node:${name}")`,
    ]),
  ),
});

/**
 * With no `process`, `Buffer` or `Deno` global either (so no `process.getBuiltinModule`), a miss
 * and a hit through a cached fetch, of a short body and of a 100 KB one, then a cache installed
 * with a fetch option that calls the global fetch (which the cache has replaced) at once, as a
 * retry wrapper does.
 */
const EDGE_APP = `
delete globalThis.process;
delete globalThis.Buffer;
delete globalThis.Deno;
const { cachedFetch, installCache, uninstallCache } = await import(ROOT + "mod.ts");
await import(ROOT + "backends/memory.ts");
const body = (url) => url.endsWith("/large") ? "x".repeat(100_000) : "v1";
const origin = (input) => Promise.resolve(new Response(body(String(input)), { headers: { "cache-control": "max-age=60" } }));
const fetch = cachedFetch({ fetch: origin });
await (await fetch("http://127.0.0.1/a")).text();
const hit = await fetch("http://127.0.0.1/a");
await (await fetch("http://127.0.0.1/large")).text();
const large = await fetch("http://127.0.0.1/large");
globalThis.fetch = origin;
installCache({ fetch: (input, init) => globalThis.fetch(input, init) });
let timer;
const timeout = new Promise((resolve) => timer = setTimeout(resolve, 5000, { text: () => "hung" }));
const installed = await Promise.race([globalThis.fetch("http://127.0.0.1/b"), timeout]);
clearTimeout(timer);
uninstallCache();
console.log(JSON.stringify([hit.fromCache, await hit.text(), large.fromCache, (await large.text()).length, await installed.text()]));
await fetch.session.close();
`;

// src/origin_call.ts imported AsyncLocalStorage from node:async_hooks, so the main entry point did
// not load at all where Node's modules are missing ("No such module node:async_hooks" on a
// Cloudflare Worker without `nodejs_compat`), though it needs nothing else of Node.
Deno.test({
  name: "the main entry point and the memory backend load and cache where no node: module exists",
  ...runsOn("deno", "maps the node: modules away with a Deno import map"),
  async fn() {
    const source = `const ROOT = ${JSON.stringify(ROOT)};\n${EDGE_APP}`;
    const child = start("deno", ["eval", "--no-config", `--import-map=${NO_NODE_MODULES}`, source], {
      capture: true,
    });
    try {
      const { code, stdout, stderr } = await within(20_000, child.exited);
      equal(code, 0, stderr);
      equal(stdout.trim(), JSON.stringify([true, "v1", true, 100_000, "v1"]));
    } finally {
      child.kill("SIGKILL");
    }
  },
});
