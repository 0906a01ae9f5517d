import { deepEqual, equal, rejects } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { MemoryStorage } from "../backends/memory.ts";
import { BackendError, type CacheEvent, CorruptRecordError, type ErrorContext } from "../mod.ts";
import { reply } from "./_origin.ts";
import { scripted, URL_A } from "./_scripted.ts";

/**
 * A storage reached over HTTP whose gateway, while the store is out of reach, answers with an
 * error page: its client's `JSON.parse` of it rejects every read with a `SyntaxError`, as a REST
 * client's `response.json()` does. Nothing stored is corrupt.
 */
class ErrorPageStorage extends MemoryStorage {
  override readonly name = "rest";
  gatewayDown = false;
  override get(key: string): Promise<Uint8Array | undefined> {
    if (this.gatewayDown) {
      return Promise.reject(new SyntaxError(`Unexpected token '<', "<html>" is not valid JSON`));
    }
    return super.get(key);
  }
}

function recordingSession(storage: ErrorPageStorage) {
  const errors: { error: unknown; context: ErrorContext }[] = [];
  const events: CacheEvent[] = [];
  const scriptedSession = scripted(
    (clock) => (_request, n) => reply(`response ${n}`, { "cache-control": "max-age=600" }, { clock }),
    {
      backend: new CacheBackend(storage),
      onError: (error, context) => errors.push({ error, context }),
      onEvent: (event) => events.push(event),
    },
  );
  return { ...scriptedSession, errors, events };
}

Deno.test("faults: a storage whose reads reject with a SyntaxError of its own is failing, not corrupt: reads rest after three", async () => {
  const storage = new ErrorPageStorage();
  const { session, get, errors, events } = recordingSession(storage);
  try {
    storage.gatewayDown = true;
    for (let i = 0; i < 10; i++) equal((await get(undefined, `${URL_A}/${i}`)).response.fromCache, false);
    // (Its writes work: only the three failed reads are reported, then reads rest.)
    deepEqual(errors.map(({ context }) => context.operation), ["read", "read", "read"]);
    deepEqual(events.filter((event) => event.type === "evict"), [], "nothing was evicted");
  } finally {
    await session.close();
  }
});

Deno.test("faults: a deleteUrls whose reads reject with a SyntaxError of the storage's fails, and what it was to delete is not served", async () => {
  const storage = new ErrorPageStorage();
  const { session, get, origin } = recordingSession(storage);
  try {
    await get();
    storage.gatewayDown = true;
    await rejects(session.cache.deleteUrls(URL_A), BackendError);
    storage.gatewayDown = false;
    const { response, body } = await get();
    equal(response.fromCache, false, "the entry the delete was to remove is not served");
    equal(body, "response 2");
    equal(origin.calls, 2);
  } finally {
    await session.close();
  }
});

// (The way docs/custom-backend.md gives a storage to say so: a record it found damaged and deleted.)
Deno.test("faults: a storage whose reads reject with the exported CorruptRecordError misses without failing: no read rests", async () => {
  const storage = new ErrorPageStorage();
  storage.get = () => Promise.reject(new CorruptRecordError("Cannot read the record: a part is missing"));
  const { session, get, errors, events } = recordingSession(storage);
  try {
    for (let i = 0; i < 5; i++) equal((await get(undefined, `${URL_A}/${i}`)).response.fromCache, false);
    // (Each is reported, and none rests the reads: five reads, not three.)
    deepEqual(errors.map(({ error }) => CorruptRecordError.is((error as BackendError).cause)), [
      true,
      true,
      true,
      true,
      true,
    ]);
    equal(events.filter((event) => event.type === "evict" && event.reason === "corrupt").length, 5);
  } finally {
    await session.close();
  }
});
