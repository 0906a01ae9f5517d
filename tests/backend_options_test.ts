/**
 * Every backend checks its options at construction, as the session does: a misspelt option, or
 * options that are no object, throw a `TypeError` that names the option and the allowed ones,
 * instead of leaving a default in place without a word.
 */
import { throws } from "node:assert/strict";
import { DenoKVBackend } from "../backends/deno_kv.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { MongoDBBackend } from "../backends/mongodb.ts";
import { RedisBackend } from "../backends/redis.ts";
import { SQLiteBackend } from "../backends/sqlite.ts";

/** Each backend, with an option misspelt as users do (the one meant, then the one written). */
const BACKENDS = [
  ["MemoryBackend", (options: object) => new MemoryBackend(options as never), "maxEntry", "maxEntries"],
  ["SQLiteBackend", (options: object) => new SQLiteBackend(options as never), "file", "path, database"],
  [
    "RedisBackend",
    (options: object) => new RedisBackend(options as never),
    "keyPrefix",
    "url, client, prefix",
  ],
  [
    "MongoDBBackend",
    (options: object) => new MongoDBBackend(options as never),
    "database",
    "url, client, db",
  ],
  [
    "DenoKVBackend",
    (options: object) => new DenoKVBackend(options as never),
    "keyPrefix",
    "path, kv, prefix",
  ],
] as const;

Deno.test("backend options: a misspelt option throws a TypeError naming it and the options allowed", () => {
  for (const [name, create, misspelt, allowed] of BACKENDS) {
    throws(() => create({ [misspelt]: 1 }), {
      name: "TypeError",
      message: new RegExp(`^Cannot create ${name}: unknown option "${misspelt}": allowed are ${allowed}`),
    });
  }
});

Deno.test("backend options: options that are no object throw a TypeError naming the backend", () => {
  for (const [name, create] of BACKENDS) {
    throws(() => create(null as never), {
      name: "TypeError",
      message: `Cannot create ${name}: options must be an object: received null`,
    });
  }
});
