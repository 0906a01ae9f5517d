/**
 * The package as JSR sees it: `deno.json` exports every backend and only files that exist,
 * each entry point loads only its own driver (the main one none), and on Deno
 * `deno publish --dry-run` and `deno doc --lint` pass, and docs/api.md names every export.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { runsOn, start } from "./_runtime.ts";

const root = new URL("../", import.meta.url);
const config = JSON.parse(readFileSync(new URL("deno.json", root), "utf8")) as {
  name: string;
  version: string;
  license?: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
  publish?: { include?: string[] };
};

/** The driver each entry point may load (statically or lazily); every other one loads none. */
const DRIVERS: Record<string, string[]> = {
  "./redis": ["@redis/client"],
  "./mongodb": ["mongodb"],
  "./deno-kv": ["@deno/kv"],
};

/** Bare specifiers that name a package (not `node:` built-ins and not relative paths). */
function isPackage(specifier: string): boolean {
  return !specifier.startsWith(".") && !specifier.startsWith("/") && !specifier.startsWith("node:");
}

/** Source without comments, so the `import` lines of doc examples do not count. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/**
 * The modules reachable from `entry` through static imports and re-exports, and every package
 * specifier they import statically or with `import("…")`.
 */
function importGraph(entry: URL): { files: string[]; packages: Set<string> } {
  const files: string[] = [], packages = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.includes(file.href)) continue;
    files.push(file.href);
    const source = code(readFileSync(file, "utf8"));
    const statics = source.matchAll(/^\s*(?:import|export)\s(?:[^"';]*?\sfrom\s*)?["']([^"']+)["']/gm);
    for (const [, specifier] of statics) {
      if (isPackage(specifier!)) packages.add(specifier!);
      else if (!specifier!.startsWith("node:")) pending.push(new URL(specifier!, file));
    }
    for (const [, specifier] of source.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
      if (isPackage(specifier!)) packages.add(specifier!);
    }
  }
  return { files, packages };
}

Deno.test("exports: every backend file is an entry point, named after it in kebab case", () => {
  const backends = readdirSync(new URL("backends/", root))
    .filter((file) => file.endsWith(".ts") && file !== "base.ts");
  ok(backends.length >= 5, `only ${backends.length} backend files found`);
  for (const file of backends) {
    const name = `./${file.slice(0, -3).replaceAll("_", "-")}`;
    equal(config.exports[name], `./backends/${file}`, `backends/${file} is not exported as "${name}"`);
  }
  equal(config.exports["."], "./mod.ts");
});

Deno.test("exports: every export target exists and is published", () => {
  const include = config.publish?.include ?? [];
  for (const [name, target] of Object.entries(config.exports)) {
    ok(existsSync(new URL(target, root)), `the target of "${name}", ${target}, does not exist`);
    const path = target.replace(/^\.\//, "");
    ok(
      include.some((entry) => path === entry || path.startsWith(entry)),
      `${target} is not in publish.include`,
    );
  }
  equal(config.name, "@x/http-cache");
  ok(/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(config.version), `version ${config.version} is not semver`);
  equal(config.license, "MIT");
  ok(existsSync(new URL("LICENSE", root)), "LICENSE is missing");
});

Deno.test("exports: every relative link of README.md names a published file (jsr.io shows the README)", () => {
  const include = config.publish?.include ?? [];
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const links = [...readme.matchAll(/\]\(([^)#:\s]+)(?:#[^)]*)?\)/g)].map((match) => match[1]!);
  ok(links.length > 0, "no relative links found in README.md");
  for (const link of new Set(links)) {
    ok(existsSync(new URL(link, root)), `README.md links to ${link}, which does not exist`);
    ok(
      include.some((entry) => link === entry || link.startsWith(entry)),
      `README.md links to ${link}, which publish.include leaves out: a broken link on jsr.io`,
    );
  }
});

Deno.test("exports: the main entry point loads no driver; each backend only its own", () => {
  const drivers = Object.keys(config.imports).filter((name) => config.imports[name]!.startsWith("npm:"));
  for (const [name, target] of Object.entries(config.exports)) {
    const { files, packages } = importGraph(new URL(target, root));
    const loaded = [...packages].filter((specifier) => drivers.includes(specifier)).sort();
    deepEqual(loaded, DRIVERS[name] ?? [], `"${name}" (${files.length} modules) loads ${loaded.join(", ")}`);
  }
});

Deno.test("exports: the import graph check sees a driver where there is one", () => {
  // The check above passes trivially if the graph walk finds nothing: prove it finds drivers.
  const redis = importGraph(new URL("backends/redis.ts", root));
  ok(redis.packages.has("@redis/client"));
  const kv = importGraph(new URL("backends/deno_kv.ts", root));
  ok(kv.packages.has("@deno/kv"), 'a lazy import("@deno/kv") is not seen');
  ok(importGraph(new URL("mod.ts", root)).files.some((file) => file.endsWith("/src/session.ts")));
});

/** Runs `deno` with `args` in the repository; resolves to its exit code and output. */
async function deno(...args: string[]) {
  const child = start("deno", args, { capture: true, env: { NO_COLOR: "1" } });
  return await child.exited;
}

Deno.test({
  name: "exports: deno publish --dry-run passes without a warning (no slow types)",
  ...runsOn("deno", "runs the deno CLI"),
  async fn() {
    const { code, stdout, stderr } = await deno("publish", "--dry-run", "--allow-dirty");
    const output = stdout + stderr;
    equal(code, 0, output);
    ok(!/^warning/m.test(output), output);
    ok(output.includes("Dry run complete"), output);
  },
});

Deno.test({
  name: "exports: deno doc --lint passes on every entry point",
  ...runsOn("deno", "runs the deno CLI"),
  async fn() {
    const { stdout, stderr } = await deno("doc", "--lint", ...Object.values(config.exports));
    const output = stdout + stderr;
    const errors = [...output.matchAll(/^error\[([\w-]+)\]: (.*)\n\s*--> (.*):\d+:\d+$/gm)];
    const real = errors.filter(([, rule, message, file]) => !isForeignTypeRef(rule!, message!, file!));
    deepEqual(real.map(([text]) => text), [], output);
    if (errors.length === 0) ok(!/^error/m.test(output), output);
  },
});

Deno.test({
  name: "exports: docs/api.md names every export of every entry point",
  ...runsOn("deno", "runs the deno CLI"),
  async fn() {
    const { code, stdout, stderr } = await deno("doc", "--json", ...Object.values(config.exports));
    equal(code, 0, stderr);
    const api = readFileSync(new URL("docs/api.md", root), "utf8");
    const nodes = (JSON.parse(stdout) as { nodes: Record<string, { symbols?: { name: string }[] }> }).nodes;
    const missing = Object.values(nodes).flatMap(({ symbols = [] }) => symbols.map(({ name }) => name))
      .filter((name) => !new RegExp(`\\b${name}\\b`).test(api));
    deepEqual(missing, [], "the exports that docs/api.md does not name");
  },
});

/**
 * Whether a `private-type-ref` names a type imported from a package: a false positive of
 * `deno doc --lint` (denoland/deno#27364, fixed upstream by dropping those diagnostics).
 */
function isForeignTypeRef(rule: string, message: string, file: string): boolean {
  const type = /references private type '(\w+)'/.exec(message)?.[1];
  if (rule !== "private-type-ref" || type === undefined) return false;
  const imports = code(readFileSync(file, "utf8")).matchAll(
    /^import\s[^;]*?\{([^}]*)\}\s*from\s*["']([^"']+)["']/gm,
  );
  return [...imports].some(([, names, specifier]) =>
    isPackage(specifier!) && names!.split(",").some((name) => name.replace(/\btype\b/, "").trim() === type)
  );
}
