/**
 * The performance targets of the project (issue 7), checked against one run's figures.
 *
 * @module
 */

import type { Result } from "./_measure.ts";
import type { Table } from "./_report.ts";
import type { Figures } from "./hits.ts";

/** One target and where it stands. */
interface Check {
  target: string;
  measured: string;
  met: boolean | undefined;
}

function value(figures: Figures, key: string): Result | undefined {
  const figure = figures[key];
  return figure === undefined || "skip" in figure ? undefined : figure;
}

/** `a.opsPerSec / b.opsPerSec`, when both were measured. */
function speedup(figures: Figures, a: string, b: string): number | undefined {
  const x = value(figures, a), y = value(figures, b);
  return x && y ? x.opsPerSec / y.opsPerSec : undefined;
}

function check(
  target: string,
  ratio: number | undefined,
  met: (ratio: number) => boolean,
  unit = "×",
): Check {
  return {
    target,
    measured: ratio === undefined ? "not measured" : `${ratio.toFixed(2)}${unit}`,
    met: ratio === undefined ? undefined : met(ratio),
  };
}

/**
 * Checks every target.
 *
 * @param figures All figures of the run (Deno sections, and the Node ones prefixed `node:`).
 * @returns The table.
 */
export function targets(figures: Figures): Table {
  const checks: Check[] = [];
  for (const size of ["1k", "100k"]) {
    const bound = size === "1k" ? 2 : 1.25;
    for (const [runtime, prefix] of [["Deno", ""], ["Node", "node:"]]) {
      checks.push(check(
        `Memory hit at ${
          size === "1k" ? "1 KB" : "100 KB"
        } within ${bound}× of the floor (${runtime}): time ÷ floor`,
        speedup(figures, `${prefix}floor:${size}`, `${prefix}memory:${size}`),
        (ratio) => ratio <= bound,
      ));
    }
  }
  checks.push(check(
    "Memory hits at 1 KB ≥ 2× undici + MemoryCacheStore (Node): hits/s ratio",
    speedup(figures, "node:memory:1k", "node:undici-memory:1k"),
    (ratio) => ratio >= 2,
  ));
  for (const size of ["1k", "100k"]) {
    const label = size === "1k" ? "1 KB" : "100 KB";
    checks.push(check(
      `SQLite hits at ${label} ≥ 2× undici + SqliteCacheStore (Node): hits/s ratio`,
      speedup(figures, `node:sqlite:${size}`, `node:undici-sqlite:${size}`),
      (ratio) => ratio >= 2,
    ));
    checks.push(check(
      `SQLite hits at ${label} ≥ 5× make-fetch-happen (Node): hits/s ratio`,
      speedup(figures, `node:sqlite:${size}`, `node:make-fetch-happen:${size}`),
      (ratio) => ratio >= 5,
    ));
  }
  for (const [runtime, prefix] of [["Deno", ""], ["Node", "node:"]]) {
    const overhead = speedup(figures, `${prefix}fetch:100k`, `${prefix}miss:100k`);
    checks.push(check(
      `Miss overhead ≤ 10% over plain fetch at 100 KB (${runtime})`,
      overhead === undefined ? undefined : (overhead - 1) * 100,
      (percent) => percent <= 10,
      "%",
    ));
  }
  for (const backend of ["memory", "sqlite"]) {
    const big = value(figures, `scale:${backend}:1000000`), small = value(figures, `scale:${backend}:1000`);
    checks.push(check(
      `Hit latency (p50) at 1M entries ≤ 1.5× that at 1k, ${backend} (Deno)`,
      big && small ? big.p50 / small.p50 : undefined,
      (ratio) => ratio <= 1.5,
    ));
  }
  checks.push(check(
    "Redis hit ≤ 1.3× a raw GET of the same bytes, same client, 1 KB (Deno): time ratio",
    speedup(figures, "redis-raw:1k", "redis-hit:1k"),
    (ratio) => ratio <= 1.3,
  ));
  checks.push(check(
    "Memory backend overhead ≤ 512 bytes per entry beyond the body (Deno)",
    value(figures, "memory:overhead")?.opsPerSec,
    (bytes) => bytes <= 512,
    " B",
  ));
  return {
    title: "Targets",
    columns: ["target", "measured", "status"],
    rows: checks.map(({ target, measured, met }) => [
      target,
      measured,
      met === undefined ? "–" : met ? "met" : "not met",
    ]),
    notes: [],
  };
}
