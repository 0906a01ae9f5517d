/**
 * The CLI's commands — `stats`, `list`, `show`, `delete`, `clear` — over the public inspection
 * API of `CacheBackend`. Every command streams: none holds the cache in memory.
 *
 * @module
 */

import type { CacheBackend, ResponseFilter, StoredEntry } from "../../backends/base.ts";
import type { Invocation } from "./args.ts";
import {
  formatBytes,
  formatCount,
  formatDate,
  formatRelative,
  keyValues,
  listHeader,
  listRow,
  previewBody,
  printable,
  progressLine,
} from "./format.ts";
import type { CliIO } from "./io.ts";
import { CorruptRecordError } from "../errors.ts";

/** What a command runs with. */
export interface CommandContext {
  /** The open cache. */
  cache: CacheBackend;
  /** The cache URL, for messages. */
  label: string;
  /** The command line. */
  run: Invocation;
  /** The process. */
  io: CliIO;
  /** The present (epoch ms). */
  now: number;
}

/** A command that ran but found nothing to act on; the CLI exits with 1. */
export class NotFoundError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was not found.
   */
  constructor(message: string) {
    super(message);
    this.name = "NotFoundError";
  }
}

/** Bytes of body shown by `show`. */
const PREVIEW_BYTES = 1024;
/** Shortest pause between two redraws of a progress bar, in ms. */
const PROGRESS_INTERVAL = 100;

/**
 * `stats`: entries, fresh and expired, bytes, oldest and newest, in one pass.
 *
 * @param context The command's context.
 */
export async function stats({ cache, label, run, io, now }: CommandContext): Promise<void> {
  const progress = progressBar(io, 0, "entries scanned");
  let entries = 0, expired = 0, bytes = 0, bodyBytes = 0, oldest = Infinity, newest = -Infinity;
  try {
    for await (const { entry, size } of cache.entries()) {
      entries++;
      if (entry.expiresAt <= now) expired++;
      bytes += size;
      bodyBytes += entry.body.length;
      oldest = Math.min(oldest, entry.createdAt);
      newest = Math.max(newest, entry.createdAt);
      progress?.update(entries);
    }
  } finally {
    // (Also before a failure's message, which would go on the bar's line.)
    progress?.done();
  }
  const date = (time: number) => Number.isFinite(time) ? new Date(time).toISOString() : null;
  if (run.json) {
    const report = {
      cache: label,
      backend: cache.name,
      entries,
      fresh: entries - expired,
      expired,
      bytes,
      bodyBytes,
      oldest: date(oldest),
      newest: date(newest),
    };
    return await io.out(JSON.stringify(report, null, 2) + "\n");
  }
  const when = (time: number) =>
    Number.isFinite(time) ? `${formatDate(time)} (${formatRelative(time, now)})` : "-";
  await io.out(keyValues([
    ["cache", `${label} (${cache.name})`],
    [
      "entries",
      `${formatCount(entries)} (${formatCount(entries - expired)} fresh, ${formatCount(expired)} expired)`,
    ],
    ["size", `${formatBytes(bytes)} (bodies ${formatBytes(bodyBytes)})`],
    ["oldest", when(oldest)],
    ["newest", when(newest)],
  ]));
}

/**
 * `list`: one line (or JSON object) per entry, streamed as the storage lists them.
 *
 * @param context The command's context.
 */
export async function list({ cache, run, io, now }: CommandContext): Promise<void> {
  let count = 0;
  // Nothing is written before the first entry, so a cache that cannot be read leaves stdout empty.
  for await (const found of cache.entries(filterOf(run))) {
    if (run.json) await io.out(`${count === 0 ? "[\n" : ",\n"}  ${JSON.stringify(summary(found, now))}`);
    // (A URL or method read from the store is shown escaped: a crafted one may hold terminal escapes.)
    else await io.out((count === 0 ? listHeader() : "") + printable(listRow(found.entry, found.size, now)));
    if (++count === run.limit) break;
  }
  if (run.json) await io.out(count === 0 ? "[]\n" : "\n]\n");
  else if (count === 0) io.err("No entries.\n");
}

/**
 * `show URL|KEY`: metadata, headers and a body preview of each entry of a URL (or of one key);
 * `--body` writes the body itself.
 *
 * @param context The command's context.
 * @throws {NotFoundError} When nothing is stored for it, or `--body` matches several entries.
 */
export async function show({ cache, run, io, now }: CommandContext): Promise<void> {
  const target = run.positionals[0]!;
  const found: StoredEntry[] = [];
  if (/^https?:\/\//i.test(target)) {
    for await (const stored of cache.entries({ urls: [target] })) found.push(stored);
  } else {
    const stored = await readKey(cache, target);
    if (stored !== undefined) found.push(stored);
  }
  if (found.length === 0) {
    const hint = /^[\w.-]+\.[a-z]{2,}(\/|$)/i.test(target)
      ? ` (a URL needs its scheme: https://${target})`
      : "";
    throw new NotFoundError(`Nothing is stored for ${target}${hint}`);
  }
  if (run.body) {
    if (found.length > 1) {
      const keys = found.map(({ key }) => `  ${printable(key)}`).join("\n");
      throw new NotFoundError(`${found.length} entries are stored for ${target}; show one by key:\n${keys}`);
    }
    return await io.out(found[0]!.entry.body);
  }
  if (run.json) {
    const documents = found.map((stored) => ({
      ...summary(stored, now),
      statusText: stored.entry.statusText,
      redirected: stored.entry.redirected,
      headers: stored.entry.headers,
      vary: stored.entry.vary,
      body: previewBody(stored.entry, 64 * 1024),
    }));
    return await io.out(JSON.stringify(documents, null, 2) + "\n");
  }
  for (const [i, { key, entry, size }] of found.entries()) {
    const preview = previewBody(entry, PREVIEW_BYTES);
    const expiry = entry.expiresAt <= now
      ? `expired ${formatRelative(entry.expiresAt, now)}`
      : formatRelative(entry.expiresAt, now);
    const rows: [string, string][] = [
      ["URL", entry.url],
      ["Key", key],
      ["Method", entry.method],
      ["Status", `${entry.status} ${entry.statusText}`.trim()],
      ["Created", `${formatDate(entry.createdAt)} (${formatRelative(entry.createdAt, now)})`],
      ["Expires", Number.isFinite(entry.expiresAt) ? `${formatDate(entry.expiresAt)} (${expiry})` : "never"],
      ["Size", `${Number.isNaN(size) ? "" : `${formatBytes(size)}, `}body ${formatBytes(entry.body.length)}`],
    ];
    if (entry.redirected) rows.push(["Redirected", "yes"]);
    if (entry.vary.length > 0) {
      rows.push([
        "Vary",
        entry.vary.map(([n, v]) => `${n}: ${v ?? "(absent)"}`).join(", "),
      ]);
    }
    const headers = entry.headers.map(([name, value]) => `  ${name}: ${value}\n`).join("");
    const shown = preview.encoding === "hex"
      ? `binary; the first bytes in hex:\n  ${preview.text}`
      : preview.text;
    const cut = preview.truncated
      ? ` (first ${formatCount(preview.bytes)} of ${formatCount(entry.body.length)} bytes)`
      : "";
    const body = entry.body.length === 0 ? "Body: empty\n" : `Body${cut}:\n${shown}\n`;
    // (What the origin sent is shown escaped: a body or field may hold terminal escapes.)
    await io.out(printable(`${i > 0 ? "\n" : ""}${keyValues(rows)}\nHeaders:\n${headers}\n${body}`));
  }
}

/**
 * The entry stored under a key; an alias key (`~…`, a redirect) leads to the entry of its newest
 * target, reported under the target's key (the alias key itself holds no entry to show).
 */
async function readKey(cache: CacheBackend, key: string): Promise<StoredEntry | undefined> {
  const record = await readDecoded(cache, key);
  if (record === undefined) return undefined;
  if ("entry" in record) return { key, entry: record.entry, size: NaN };
  const target = record.targets[0]!;
  const followed = await readDecoded(cache, target);
  return followed !== undefined && "entry" in followed
    ? { key: target, entry: followed.entry, size: NaN }
    : undefined;
}

/**
 * A record, or `undefined` for none, or a corrupt one (which the read deletes): as for a URL,
 * whose scan skips corrupt records, `show` then finds nothing stored.
 */
async function readDecoded(cache: CacheBackend, key: string): ReturnType<CacheBackend["read"]> {
  try {
    return await cache.read(key);
  } catch (error) {
    // (Corrupt, to the record format or to the storage itself: a Deno KV manifest.)
    if (CorruptRecordError.is((error as Error).cause)) return undefined;
    throw error;
  }
}

/**
 * `delete URL... | --expired | --valid | --older-than D | --url P`: deletes what matches, with a progress
 * bar on a terminal.
 *
 * @param context The command's context.
 */
export async function remove({ cache, run, io }: CommandContext): Promise<void> {
  const filter = filterOf(run);
  // A progress bar needs a total: counting lists keys only, which is cheap next to the delete.
  const total = io.interactive && filter.urls === undefined ? await cache.count() : 0;
  const progress = io.interactive ? progressBar(io, total, "entries scanned") : undefined;
  let deleted;
  try {
    deleted = await cache.delete(filter, { onProgress: (step) => progress?.update(step.scanned) });
  } finally {
    progress?.done();
  }
  if (run.json) return await io.out(JSON.stringify({ deleted }) + "\n");
  await io.out(`Deleted ${formatCount(deleted)} ${deleted === 1 ? "entry" : "entries"}.\n`);
}

/**
 * `clear --yes`: deletes every entry.
 *
 * @param context The command's context.
 */
export async function clear({ cache, label, run, io }: CommandContext): Promise<void> {
  const count = await cache.count();
  await cache.clear();
  if (run.json) return await io.out(JSON.stringify({ deleted: count }) + "\n");
  await io.out(`Cleared ${label}: ${formatCount(count)} ${count === 1 ? "entry" : "entries"} deleted.\n`);
}

function filterOf(run: Invocation): ResponseFilter {
  const filter: ResponseFilter = {};
  if (run.positionals.length > 0) filter.urls = run.positionals;
  if (run.expired) filter.expired = true;
  if (run.valid) filter.valid = true;
  if (run.urlPattern !== undefined) filter.urlPattern = run.urlPattern;
  if (run.olderThan !== undefined) filter.olderThan = run.olderThan;
  return filter;
}

function summary({ key, entry, size }: StoredEntry, now: number) {
  return {
    key,
    method: entry.method,
    url: entry.url,
    status: entry.status,
    size: Number.isNaN(size) ? null : size,
    bodySize: entry.body.length,
    createdAt: new Date(entry.createdAt).toISOString(),
    expiresAt: Number.isFinite(entry.expiresAt) ? new Date(entry.expiresAt).toISOString() : null,
    expired: entry.expiresAt <= now,
  };
}

/** A progress bar on stderr, redrawn at most every {@linkcode PROGRESS_INTERVAL} ms; none off a terminal. */
function progressBar(io: CliIO, total: number, label: string) {
  if (!io.interactive) return undefined;
  let last = 0;
  let drawn = false;
  return {
    update(done: number) {
      const time = Date.now();
      if (time - last < PROGRESS_INTERVAL) return;
      last = time;
      drawn = true;
      io.err(progressLine(done, total, label, io.columns));
    },
    done() {
      if (drawn) io.err("\r\x1b[K");
    },
  };
}
