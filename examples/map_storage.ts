/**
 * A complete cache backend in one small class: a `Storage` over a `Map`, honouring `deleteAt`.
 * It is the example of docs/custom-backend.md, and tests/custom_backend_test.ts runs the
 * conformance suite on it.
 *
 * @module
 */

import { CacheBackend, type Storage } from "../backends/base.ts";

/** Bytes in a Map, each with the time it may be reclaimed. */
export class MapStorage implements Storage {
  readonly name = "map";
  #records = new Map<string, { value: Uint8Array; deleteAt: number }>();

  get(key: string): Promise<Uint8Array | undefined> {
    const record = this.#records.get(key);
    if (record === undefined) return Promise.resolve(undefined);
    if (record.deleteAt > Date.now()) return Promise.resolve(record.value);
    this.#records.delete(key);
    return Promise.resolve(undefined);
  }

  set(key: string, value: Uint8Array, deleteAt: number): Promise<void> {
    this.#records.set(key, { value, deleteAt });
    return Promise.resolve();
  }

  delete(keys: string[]): Promise<void> {
    for (const key of keys) this.#records.delete(key);
    return Promise.resolve();
  }

  async *keys(prefix = ""): AsyncIterableIterator<string> {
    // A snapshot, so the caller may delete while it iterates.
    for (const key of [...this.#records.keys()]) if (key.startsWith(prefix)) yield key;
  }

  clear(): Promise<void> {
    this.#records.clear();
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The backend a session takes: `new CachedSession({ backend: new MapBackend() })`. */
export class MapBackend extends CacheBackend {
  /** Creates an empty cache. */
  constructor() {
    super(new MapStorage());
  }
}
