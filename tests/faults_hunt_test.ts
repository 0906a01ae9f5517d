import { deepEqual, equal } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { reply } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/** A memory storage whose `get` hands out the record copied into shared memory, inside a larger buffer. */
class SharedMemoryStorage extends MemoryStorage {
  override readonly name = "shared-memory";
  override async get(key: string): Promise<Uint8Array | undefined> {
    const bytes = await super.get(key);
    if (bytes === undefined) return undefined;
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 8), 4, bytes.length);
    shared.set(bytes);
    return shared;
  }
}

// Was: on Deno, a hit whose record the storage handed out in shared memory rejected the fetch
// ("Failed to construct 'Response': Argument 1 is a view on a SharedArrayBuffer").
Deno.test("a storage that hands out records in shared memory serves hits, and fetch never rejects", async () => {
  const errors: unknown[] = [];
  const { session, get, origin } = scripted(
    (clock) => (_request, n) => reply(`response ${n}`, { "cache-control": "max-age=60" }, { clock }),
    { backend: new CacheBackend(new SharedMemoryStorage()), onError: (error) => errors.push(error) },
  );
  try {
    const results = [];
    for (let i = 0; i < 3; i++) {
      const { response, body } = await get();
      results.push(`${body}:${response.fromCache}`);
    }
    deepEqual(results, ["response 1:false", "response 1:true", "response 1:true"]);
    equal(origin.calls, 1);
    deepEqual(errors, []);
  } finally {
    await session.close();
  }
});

// Was: on Deno, reading a stored response through the inspection API threw the same TypeError.
Deno.test("the inspection API reads records a storage hands out in shared memory", async () => {
  const backend = new CacheBackend(new SharedMemoryStorage());
  const { session, get } = scripted(
    (clock) => () => reply("stored body", { "cache-control": "max-age=60" }, { clock }),
    { backend },
  );
  try {
    await get();
    const bodies: string[] = [];
    for await (const response of backend.responses()) bodies.push(`${response.url}:${await response.text()}`);
    deepEqual(bodies, [`${URL_A}:stored body`]);
    const [key] = await Array.fromAsync(backend.keys());
    equal(await (await backend.get(key!))?.text(), "stored body");
  } finally {
    await session.close();
  }
});
