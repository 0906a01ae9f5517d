/**
 * How the CLI writes numbers, sizes, times, tables, body previews and progress bars.
 *
 * @module
 */

import type { CacheEntry } from "../record.ts";

/**
 * A byte count for people: `512 B`, `1.5 KiB`, `12.3 MiB`.
 *
 * @param bytes The count.
 * @returns The text.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * A count with thousands separators: `1,234,567`.
 *
 * @param count The count.
 * @returns The text.
 */
export function formatCount(count: number): string {
  return count.toLocaleString("en-US");
}

/**
 * A moment relative to now: `just now`, `5m ago`, `in 3h`, `never` (for `Infinity`).
 *
 * @param time The moment (epoch ms).
 * @param now The present (epoch ms).
 * @returns The text.
 */
export function formatRelative(time: number, now: number): string {
  if (!Number.isFinite(time)) return "never";
  const seconds = Math.round((time - now) / 1000);
  const size = Math.abs(seconds);
  if (size < 1) return "now";
  const [amount, unit] = size < 60
    ? [size, "s"]
    : size < 3600
    ? [Math.floor(size / 60), "m"]
    : size < 86_400
    ? [Math.floor(size / 3600), "h"]
    : size < 86_400 * 365
    ? [Math.floor(size / 86_400), "d"]
    : [Math.floor(size / (86_400 * 365)), "y"];
  return seconds > 0 ? `in ${amount}${unit}` : `${amount}${unit} ago`;
}

/**
 * A moment as UTC date and time: `2026-11-23 10:11:10Z`, or `never`.
 *
 * @param time The moment (epoch ms).
 * @returns The text.
 */
export function formatDate(time: number): string {
  if (!Number.isFinite(time)) return "never";
  return new Date(time).toISOString().slice(0, 19).replace("T", " ") + "Z";
}

/**
 * Aligned `name  value` lines.
 *
 * @param rows The pairs.
 * @returns The lines, each ending in a newline.
 */
export function keyValues(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}\n`).join("");
}

/** Column widths of `list`; the URL comes last and takes what it needs. */
const LIST_COLUMNS = [["STATUS", 6], ["SIZE", 9], ["CREATED", 9], ["EXPIRES", 9]] as const;

/**
 * The header line of `list`.
 *
 * @returns The line.
 */
export function listHeader(): string {
  return LIST_COLUMNS.map(([name, width]) => name.padEnd(width)).join(" ") + " URL\n";
}

/**
 * One line of `list`. Fixed columns, so lines stream out without first reading every entry.
 *
 * @param entry The entry.
 * @param size Its record size in bytes.
 * @param now The present (epoch ms).
 * @returns The line.
 */
export function listRow(entry: CacheEntry, size: number, now: number): string {
  const method = entry.method === "GET" ? "" : `${entry.method} `;
  const cells = [
    String(entry.status),
    formatBytes(size),
    formatRelative(entry.createdAt, now),
    formatRelative(entry.expiresAt, now),
  ];
  return cells.map((cell, i) => cell.padEnd(LIST_COLUMNS[i]![1])).join(" ") + ` ${method}${entry.url}\n`;
}

/**
 * Text made safe for a terminal: control characters (but newlines and tabs) are shown as `\xNN`,
 * so that what an origin sent cannot move the cursor, recolour or clear the screen.
 *
 * @param text Text from a stored response.
 * @returns The text, its control characters escaped.
 */
export function printable(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex -- control characters are what it finds
    /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)/g,
    (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** Media types whose bodies are shown as text. */
const TEXTUAL =
  /^(text\/|application\/(json|xml|javascript|ecmascript|x-www-form-urlencoded|[\w.+-]*\+(json|xml)))/i;

/** Most bytes a hex preview shows, whatever the limit. */
const HEX_PREVIEW_BYTES = 256;

/** A body preview: text when the body is text, else a hex dump of its start. */
export interface BodyPreview {
  /** `utf-8` text, or `hex` of the first bytes. */
  encoding: "utf-8" | "hex";
  /** The preview. */
  text: string;
  /** Whether the body is longer than the preview. */
  truncated: boolean;
  /** How many of the body's bytes the preview shows. */
  bytes: number;
}

/**
 * Previews a stored body.
 *
 * @param entry The entry.
 * @param limit Most bytes shown.
 * @returns The preview.
 */
export function previewBody(entry: CacheEntry, limit: number): BodyPreview {
  const body = entry.body;
  const type = entry.headers.find(([name]) => name === "content-type")?.[1] ?? "";
  const head = body.subarray(0, limit);
  const truncated = body.length > limit;
  if (TEXTUAL.test(type) || type === "") {
    try {
      // `stream: true` tolerates a character cut in two at the limit.
      const text = new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: truncated });
      return { encoding: "utf-8", text, truncated, bytes: head.length };
    } catch {
      // Not UTF-8 after all: fall through to hex.
    }
  }
  const shown = body.subarray(0, Math.min(limit, HEX_PREVIEW_BYTES));
  const text = Array.from(shown, (byte) => byte.toString(16).padStart(2, "0")).join(" ");
  return { encoding: "hex", text, truncated: body.length > shown.length, bytes: shown.length };
}

/**
 * A progress bar line for a terminal: `[#####.....]  50%  500 / 1,000`.
 *
 * @param done Items done.
 * @param total Items expected (0 when unknown).
 * @param label What is counted.
 * @param columns Width of the terminal.
 * @returns The line, starting with a carriage return.
 */
export function progressLine(done: number, total: number, label: string, columns: number): string {
  const counts = `${formatCount(done)}${total > 0 ? ` / ${formatCount(total)}` : ""} ${label}`;
  if (total <= 0) return `\r\x1b[K${counts}`;
  const ratio = Math.min(1, done / total);
  const width = Math.max(10, Math.min(40, columns - counts.length - 10));
  const filled = Math.round(ratio * width);
  const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
  return `\r\x1b[K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent}  ${counts}`;
}
