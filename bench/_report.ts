/**
 * Tables of results: built by each section, printed as Markdown (readable in a terminal, and
 * pasted as is into docs/performance.md).
 *
 * @module
 */

import type { Result } from "./_measure.ts";

/** One table of a section. */
export interface Table {
  /** Heading. */
  title: string;
  /** Column headings. */
  columns: string[];
  /** Cells, already formatted. */
  rows: string[][];
  /** Lines printed under the table (skipped backends, caveats). */
  notes: string[];
}

/**
 * Renders a table as Markdown.
 *
 * @param table The table.
 * @returns The text.
 */
export function markdown(table: Table): string {
  const widths = table.columns.map((column, i) =>
    Math.max(column.length, ...table.rows.map((row) => (row[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    `| ${
      cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join(" | ")
    } |`;
  const rule = `| ${
    widths.map((width, i) => i === 0 ? "-".repeat(width) : "-".repeat(width - 1) + ":").join(" | ")
  } |`;
  const notes = table.notes.map((note) => `\n- ${note}`).join("");
  return `### ${table.title}\n\n${[line(table.columns), rule, ...table.rows.map(line)].join("\n")}\n${notes}${
    notes ? "\n" : ""
  }`;
}

/** Operations per second, grouped by thousands. */
export function rate(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  return Math.round(value).toLocaleString("en-US");
}

/** Microseconds, with the precision that matters at that size. */
export function micros(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (value >= 10_000) return `${(value / 1000).toFixed(1)} ms`;
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

/** A ratio, as `1.23×`. */
export function times(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  return `${value.toFixed(2)}×`;
}

/** The three usual cells of a timed case: hits/s, p50, p99. */
export function timing(result: Result | undefined): string[] {
  return [rate(result?.opsPerSec), micros(result?.p50), micros(result?.p99)];
}

/** Body size names as tables show them. */
export const SIZE_LABEL: Record<string, string> = { "1k": "1 KB", "100k": "100 KB", "10m": "10 MB" };
