/**
 * Every backend checks its options at construction, as the session does: a misspelt option, or
 * options that are no object, throw a `TypeError` that names the option and the allowed ones,
 * instead of leaving a default in place without a word. A value of the wrong kind fails there too,
 * not on every request later (a client of the wrong kind), nor with a driver's words
 * ("text.replace is not a function"), nor by handing the cache keys it does not own (a Redis
 * prefix of "").
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

const fakeKv = { get() {}, list() {}, atomic() {}, close() {} };

/** Backend, options, error name, message. */
const CASES: [string, () => unknown, string, RegExp][] = [
  [
    "RedisBackend",
    () => new RedisBackend({ prefix: "" }),
    "TypeError",
    /^Cannot create RedisBackend: prefix must be a non-empty string .*: received ""$/,
  ],
  [
    "RedisBackend",
    () => new RedisBackend({ prefix: 1 as never }),
    "TypeError",
    /^Cannot create RedisBackend: prefix must be .*: received 1$/,
  ],
  [
    "RedisBackend",
    () => new RedisBackend({ url: 1 as never }),
    "TypeError",
    /^Cannot create RedisBackend: url must be a redis:\/\/ or rediss:\/\/ URL: received 1$/,
  ],
  [
    "RedisBackend",
    () => new RedisBackend({ client: "redis://127.0.0.1:6379" as never }),
    "TypeError",
    /^Cannot create RedisBackend: client must be a @redis\/client client \(createClient\(\)\): received "redis:\/\/127\.0\.0\.1:6379"$/,
  ],
  [
    "RedisBackend",
    () => new RedisBackend({ client: {} as never }),
    "TypeError",
    /client must be .*: received an object \(it has no sendCommand\(\)\)$/,
  ],
  [
    "RedisBackend",
    () => new RedisBackend({ timeout: "2000" as never }),
    "TypeError",
    /^Cannot create RedisBackend: timeout must be a positive integer: received "2000"$/,
  ],
  [
    "MemoryBackend",
    () => new MemoryBackend({ maxBytes: "1000000" as never }),
    "TypeError",
    /^Cannot create MemoryBackend: maxBytes must be a positive integer: received "1000000"$/,
  ],
  [
    "MongoDBBackend",
    () => new MongoDBBackend({ url: 1 as never }),
    "TypeError",
    /^Cannot create MongoDBBackend: url must be a mongodb:\/\/ or mongodb\+srv:\/\/ URL: received 1$/,
  ],
  [
    "MongoDBBackend",
    () => new MongoDBBackend({ client: "mongodb://127.0.0.1" as never }),
    "TypeError",
    /^Cannot create MongoDBBackend: client must be a MongoClient: received "mongodb:\/\/127\.0\.0\.1"$/,
  ],
  [
    "MongoDBBackend",
    () => new MongoDBBackend({ collection: {} as never }),
    "TypeError",
    /collection must be a collection name or a Collection: received an object \(it has no findOne\(\)\)$/,
  ],
  [
    "MongoDBBackend",
    () => new MongoDBBackend({ collection: null as never }),
    "TypeError",
    /collection must be a collection name or a Collection: received null$/,
  ],
  [
    "MongoDBBackend",
    () => new MongoDBBackend({ db: 1 as never }),
    "TypeError",
    /^Cannot create MongoDBBackend: db must be a database name: received 1$/,
  ],
  [
    "SQLiteBackend",
    () => new SQLiteBackend({ path: "" }),
    "TypeError",
    /^Cannot create SQLiteBackend: path must be a non-empty string: received ""$/,
  ],
  [
    "SQLiteBackend",
    () => new SQLiteBackend({ database: "cache.db" as never }),
    "TypeError",
    /database must be an open node:sqlite DatabaseSync or bun:sqlite Database: received "cache\.db"$/,
  ],
  [
    "SQLiteBackend",
    () => new SQLiteBackend({ path: "a.db", database: {} as never }),
    "TypeError",
    /^Cannot create SQLiteBackend: give either path or database, not both$/,
  ],
  [
    "DenoKVBackend",
    () => new DenoKVBackend({ prefix: "http_cache" as never, kv: fakeKv as never }),
    "TypeError",
    /prefix must be a non-empty array of strings, .*: received "http_cache"$/,
  ],
  [
    "DenoKVBackend",
    () => new DenoKVBackend({ prefix: null as never, kv: fakeKv as never }),
    "TypeError",
    /prefix must be a non-empty array of strings, .*: received null$/,
  ],
  [
    "DenoKVBackend",
    () => new DenoKVBackend({ path: "" }),
    "TypeError",
    /^Cannot create DenoKVBackend: path must be a database file path or a KV Connect URL: received ""$/,
  ],
  [
    "DenoKVBackend",
    () => new DenoKVBackend({ kv: {} as never }),
    "TypeError",
    /kv must be an open Deno\.Kv \(or @deno\/kv Kv\): received an object \(it has no get\(\)\)$/,
  ],
  [
    "DenoKVBackend",
    () => new DenoKVBackend({ path: "a.kv", kv: fakeKv as never }),
    "TypeError",
    /^Cannot create DenoKVBackend: give either path or kv, not both$/,
  ],
];

Deno.test("backend options: a value of the wrong kind fails at construction, naming the option and what is allowed", () => {
  for (const [backend, create, name, message] of CASES) {
    throws(create, { name, message }, `${backend}: ${create}`);
  }
});

Deno.test("backend options: the kinds documented are still accepted", async () => {
  await new RedisBackend({
    prefix: "my-app:http:v1:",
    client: { isOpen: true, sendCommand: () => Promise.resolve(null) },
  })
    .close();
  await new DenoKVBackend({ kv: fakeKv as never, prefix: ["my_app", "http", "v1"] }).close();
  await new MongoDBBackend({ db: "my_app", collection: "http_cache_v1", timeout: 100 }).close();
  await new SQLiteBackend({ path: ":memory:" }).close();
  await new MemoryBackend({ maxBytes: 1_000_000 }).close();
});
