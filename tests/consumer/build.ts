/**
 * Builds this package the way JSR serves it to npm clients (`npx jsr add`, `bunx jsr add`):
 * ESM JavaScript with `.d.ts` declarations, compiled by TypeScript with
 * `rewriteRelativeImportExtensions` (`./x.ts` becomes `./x.js`), a `package.json` whose `exports`
 * mirror `deno.json`'s, and the npm dependencies of `deno.json`'s import map.
 *
 *     node tests/consumer/build.ts OUT_DIR     # prints the path of the packed tarball
 *
 * It compiles with `erasableSyntaxOnly`, so it also proves that Node can run the sources as they
 * are (no enum, namespace or parameter property).
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const out = resolve(process.argv[2] ?? "");
if (process.argv[2] === undefined) {
  throw new TypeError("Cannot build: OUT_DIR must be given: received nothing");
}
const deno = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as {
  name: string;
  version: string;
  license: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
};
const npm = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

const packageDir = join(out, "package");
mkdirSync(packageDir, { recursive: true });
const entries = Object.values(deno.exports);
const tsc = join(root, "node_modules/typescript/bin/tsc");
// deno.json's compilerOptions, plus what a Node consumer's compiler needs.
const flags = [
  ["--outDir", packageDir],
  ["--rootDir", root],
  ["--declaration"],
  ["--rewriteRelativeImportExtensions"],
  ["--erasableSyntaxOnly"],
  ["--verbatimModuleSyntax"],
  ["--module", "nodenext"],
  ["--target", "es2022"],
  ["--lib", "es2024,esnext.disposable,dom,dom.iterable"],
  ["--types", "node"],
  ["--typeRoots", join(root, "node_modules/@types")],
  ["--strict"],
  ["--exactOptionalPropertyTypes"],
  ["--noUncheckedIndexedAccess"],
  ["--noImplicitOverride"],
  ["--skipLibCheck"],
  ["--pretty", "false"],
].flat();
try {
  execFileSync(process.execPath, [tsc, ...flags, ...entries.map((entry) => join(root, entry))], {
    stdio: ["ignore", "pipe", "pipe"],
  });
} catch (error) {
  const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
  process.stderr.write(`${stdout ?? ""}${stderr ?? ""}`);
  throw new Error("Cannot build the npm package: tsc failed (see above)");
}

// JSR's npm name for @scope/name is @jsr/scope__name; `jsr add` installs it under @scope/name.
const [scope, name] = deno.name.slice(1).split("/") as [string, string];
const drivers = Object.keys(deno.imports).filter((key) => deno.imports[key]!.startsWith("npm:"));
const manifest = {
  name: `@jsr/${scope}__${name}`,
  version: deno.version,
  license: deno.license,
  type: "module",
  exports: Object.fromEntries(
    Object.entries(deno.exports).map(([key, target]) => {
      const base = target.replace(/\.ts$/, "");
      return [key, { types: `${base}.d.ts`, default: `${base}.js` }];
    }),
  ),
  dependencies: Object.fromEntries(
    Object.entries(npm.dependencies).filter(([dependency]) => drivers.includes(dependency)),
  ),
};
writeFileSync(join(packageDir, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", out], {
  cwd: packageDir,
  encoding: "utf8",
}).trim().split("\n").pop()!;
console.log(join(out, tarball));
