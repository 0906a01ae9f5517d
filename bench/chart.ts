/**
 * The chart of docs/bench.svg: hits per second at 1 KB, beside the peers on Node and per backend
 * on Deno, drawn from one run's figures (`deno task bench --write` calls it).
 *
 * @module
 */

import type { Figures } from "./hits.ts";

/** One bar. */
interface Bar {
  label: string;
  key: string;
  kind: "floor" | "ours" | "peer";
}

const PANELS: { title: string; bars: Bar[] }[] = [
  {
    title: "Hits per second, 1 KB body read to the end — Node 24, one process, beside the peers",
    bars: [
      { label: "floor: key + Response from bytes", key: "node:floor:1k", kind: "floor" },
      { label: "@x/http-cache MemoryBackend", key: "node:memory:1k", kind: "ours" },
      { label: "axios + axios-cache-interceptor", key: "node:axios:1k", kind: "peer" },
      { label: "undici cache, MemoryCacheStore", key: "node:undici-memory:1k", kind: "peer" },
      { label: "@x/http-cache SQLiteBackend", key: "node:sqlite:1k", kind: "ours" },
      { label: "undici cache, SqliteCacheStore", key: "node:undici-sqlite:1k", kind: "peer" },
      { label: "make-fetch-happen", key: "node:make-fetch-happen:1k", kind: "peer" },
    ],
  },
  {
    title: "Hits per second, 1 KB body read to the end — Deno, per backend",
    bars: [
      { label: "floor: key + Response from bytes", key: "floor:1k", kind: "floor" },
      { label: "MemoryBackend", key: "memory:1k", kind: "ours" },
      { label: "SQLiteBackend (file)", key: "sqlite:1k", kind: "ours" },
      { label: "DenoKVBackend (file)", key: "deno-kv:1k", kind: "ours" },
      { label: "RedisBackend (loopback)", key: "redis:1k", kind: "ours" },
      { label: "MongoDBBackend (stand-in server)", key: "mongodb:1k", kind: "ours" },
      { label: "Deno caches (Web Cache API)", key: "web-cache:1k", kind: "peer" },
    ],
  },
];

const COLORS = { floor: "#8c8c8c", ours: "#2563eb", peer: "#f59e0b" };
const WIDTH = 900, LABEL = 290, VALUE = 90, ROW = 26, TITLE = 34, GAP = 24;

/**
 * Draws the chart.
 *
 * @param figures The run's figures.
 * @param caption A line under the chart (machine, runtimes, date).
 * @returns The SVG document.
 */
export function chart(figures: Figures, caption: string): string {
  const parts: string[] = [];
  let y = 10;
  for (const panel of PANELS) {
    const values = panel.bars.map((bar) => {
      const figure = figures[bar.key];
      return figure === undefined || "skip" in figure ? undefined : figure.opsPerSec;
    });
    const max = Math.max(1, ...values.filter((v): v is number => v !== undefined));
    parts.push(`<text x="10" y="${y + 18}" class="title">${escape(panel.title)}</text>`);
    y += TITLE;
    panel.bars.forEach((bar, i) => {
      const v = values[i];
      const length = v === undefined ? 0 : ((WIDTH - LABEL - VALUE - 20) * v) / max;
      parts.push(`<text x="${LABEL - 8}" y="${y + 17}" class="label">${escape(bar.label)}</text>`);
      parts.push(
        `<rect x="${LABEL}" y="${y + 4}" width="${length.toFixed(1)}" height="${ROW - 8}" fill="${
          COLORS[bar.kind]
        }"/>`,
      );
      const text = v === undefined ? "skipped" : Math.round(v).toLocaleString("en-US");
      parts.push(`<text x="${(LABEL + length + 6).toFixed(1)}" y="${y + 17}" class="value">${text}</text>`);
      y += ROW;
    });
    y += GAP;
  }
  const legend = [["ours", "@x/http-cache"], ["peer", "peers and built-ins"], ["floor", "floor"]] as const;
  legend.forEach(([kind, text], i) => {
    const x = LABEL + i * 190;
    parts.push(`<rect x="${x}" y="${y}" width="14" height="14" fill="${COLORS[kind]}"/>`);
    parts.push(`<text x="${x + 20}" y="${y + 12}" class="value">${text}</text>`);
  });
  y += 32;
  parts.push(`<text x="10" y="${y}" class="caption">${escape(caption)}</text>`);
  y += 14;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}">
<style>
  text { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #1f2937; }
  .title { font-size: 14px; font-weight: 600; }
  .label { font-size: 12px; text-anchor: end; }
  .value { font-size: 12px; }
  .caption { font-size: 11px; fill: #6b7280; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
${parts.join("\n")}
</svg>
`;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
