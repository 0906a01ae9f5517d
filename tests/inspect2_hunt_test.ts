/**
 * Second hunt over the inspection API and the `http-cache` CLI: deletes racing a session's writes,
 * and the CLI's argument checks.
 */
import { equal, match } from "node:assert/strict";
import { CacheBackend } from "../backends/base.ts";
import { CachedSession } from "../mod.ts";
import { EXIT_USAGE } from "../src/cli/main.ts";
import { runCli as cli } from "./_cli.ts";
import { BACKENDS, dispose, Switched, within } from "./_fixtures.ts";
import { Clock, origin, reply } from "./_origin.ts";

/**
 * A storage whose listing of every key stops after its 32nd key (a scan has read those 32 records
 * by then) until released.
 */
class HeldListing extends Switched {
  /** The keys listed before the listing stopped. */
  listed: string[] = [];
  #hold: Promise<void> | undefined;
  #release: (() => void) | undefined;
  #reached: (() => void) | undefined;
  /** Resolves once a listing stopped. */
  reached: Promise<void> | undefined;

  /** Makes the next listing of every key stop after 32 keys. */
  holdNext(): void {
    this.#hold = new Promise((resolve) => this.#release = resolve);
    this.reached = new Promise((resolve) => this.#reached = resolve);
  }
  release(): void {
    this.#release?.();
  }
  override async *keys(prefix = ""): AsyncIterable<string> {
    const hold = prefix === "" ? this.#hold : undefined;
    if (hold !== undefined) this.#hold = undefined;
    let listed = 0;
    for await (const key of super.keys(prefix)) {
      if (hold !== undefined && ++listed === 33) {
        this.#reached!();
        await hold;
      }
      if (hold !== undefined && listed <= 32) this.listed.push(key);
      yield key;
    }
  }
}

Deno.test("inspect2 hunt: deleteExpired keeps the fresh response a session stored while the scan went on", async (t) => {
  // A delete by state read an expired record, went on listing, and deleted the key with its batch
  // later: the fresh response a session had stored under that key meanwhile went with it, though
  // "a delete by state invalidates nothing: a response on its way ... is stored".
  for (const backend of BACKENDS) {
    await t.step({
      name: backend.name,
      ignore: backend.skip !== undefined,
      async fn() {
        const opened = await backend.open();
        const storage = new HeldListing(opened.storage);
        const cache = new CacheBackend(storage);
        const clock = new Clock();
        let served = 0;
        const server = origin(() => reply(`v${++served}`, { "cache-control": "max-age=60" }, { clock }));
        const session = new CachedSession({ fetch: server.fetch, backend: cache, now: clock.fn });
        try {
          for (let i = 0; i < 40; i++) await (await session.fetch(`http://127.0.0.1/${i}`)).text();
          const urlOf = new Map<string, string>();
          for await (const { key, entry } of cache.entries()) urlOf.set(key, entry.url);
          equal(urlOf.size, 40);
          clock.tick(120);
          storage.holdNext();
          const deleting = cache.deleteExpired();
          await within(5000, storage.reached!);
          // The scan has read (and selected) the first 32 records; one of them is stored anew.
          const url = urlOf.get(storage.listed[0]!)!;
          const fresh = await session.fetch(url);
          equal(await fresh.text(), "v41");
          storage.release();
          equal(await within(5000, deleting), 39);
          equal(await cache.count({ valid: true }), 1);
          equal(await cache.count(), 1);
          const again = await session.fetch(url);
          equal(await again.text(), "v41", "served from the cache");
          equal(server.calls, 41);
        } finally {
          storage.release();
          await session.close();
          await dispose(opened);
        }
      },
    });
  }
});

Deno.test("inspect2 hunt: a command given without the cache says the cache is missing", async () => {
  // `http-cache stats` took "stats" for the cache and answered "Missing the command after stats:
  // one of stats, list, …", naming as missing the very command that was given.
  for (const command of ["stats", "list", "clear"]) {
    const refused = await cli([command]);
    equal(refused.code, EXIT_USAGE);
    equal(refused.stdout, "");
    match(
      refused.stderr,
      new RegExp(`^http-cache: Missing the cache before ${command}: http-cache \\S+ ${command}\\n`),
    );
  }
  // A cache URL alone still asks for the command.
  const noCommand = await cli(["sqlite:./http_cache.db"]);
  equal(noCommand.code, EXIT_USAGE);
  match(noCommand.stderr, /^http-cache: Missing the command after sqlite:\.\/http_cache\.db: one of stats/);
});

Deno.test("inspect2 hunt: --limit takes a positive integer in digits only", async () => {
  // Number() parsed "0x10" as 16, "1e3" as 1000 and " 2" as 2, so each passed for "a positive
  // integer"; a mistyped limit must be refused before the cache is opened.
  for (const limit of ["0x10", "1e3", " 2", "2.0", "+3", "0b11"]) {
    const refused = await cli(["sqlite::memory:", "list", "--limit", limit]);
    equal(refused.code, EXIT_USAGE, limit);
    match(refused.stderr, /^http-cache: --limit must be a positive integer: received /, limit);
  }
  const taken = await cli(["sqlite::memory:", "list", "--limit", "10", "--json"]);
  equal(taken.code, 0, taken.stderr);
  equal(taken.stdout, "[]\n");
});
