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
  /** The lowest and highest of the ratio round by round, when the two cases were timed side by side. */
  rounds: string;
  /** The same measure taken of the floor, where the target has one beyond its own terms. */
  floor: string;
  met: boolean | undefined;
}

function value(figures: Figures, key: string): Result | undefined {
  const figure = figures[key];
  return figure === undefined || "skip" in figure ? undefined : figure;
}

/** A ratio of two cases: over the whole run, and the lowest and highest round by round. */
interface Ratio {
  whole: number;
  rounds?: [number, number] | undefined;
}

/** `a.opsPerSec / b.opsPerSec`, when both were measured, and the same ratio round by round. */
function speedup(figures: Figures, a: string, b: string): Ratio | undefined {
  const x = value(figures, a), y = value(figures, b);
  if (!x || !y) return undefined;
  const paired = x.rounds.length > 0 && x.rounds.length === y.rounds.length;
  const each = paired ? x.rounds.map((rate, i) => rate / y.rounds[i]!) : [];
  return {
    whole: x.opsPerSec / y.opsPerSec,
    rounds: paired ? [Math.min(...each), Math.max(...each)] : undefined,
  };
}

/** A ratio turned into another figure (an overhead in percent), rounds and all. */
function mapped(ratio: Ratio | undefined, map: (ratio: number) => number): Ratio | undefined {
  if (ratio === undefined) return undefined;
  const { whole, rounds } = ratio;
  return { whole: map(whole), rounds: rounds && [map(rounds[0]), map(rounds[1])] };
}

function check(
  target: string,
  ratio: Ratio | undefined,
  met: (ratio: number) => boolean,
  options: { unit?: string; floor?: Ratio | undefined } = {},
): Check {
  const { unit = "×", floor } = options;
  const shown = (value: number) => `${value.toFixed(2)}${unit}`;
  return {
    target,
    measured: ratio === undefined ? "not measured" : shown(ratio.whole),
    rounds: ratio?.rounds === undefined ? "–" : `${shown(ratio.rounds[0])} to ${shown(ratio.rounds[1])}`,
    floor: floor === undefined ? "–" : shown(floor.whole),
    met: ratio === undefined ? undefined : met(ratio.whole),
  };
}

/** `a.p50 / b.p50`, when both were measured. */
function latency(figures: Figures, a: string, b: string): Ratio | undefined {
  const x = value(figures, a), y = value(figures, b);
  return x && y ? { whole: x.p50 / y.p50 } : undefined;
}

/** The overhead in percent of `slower` over `plain`, from their rates side by side. */
function overhead(figures: Figures, plain: string, slower: string): Ratio | undefined {
  return mapped(speedup(figures, plain, slower), (ratio) => (ratio - 1) * 100);
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
    checks.push(check(
      `Miss overhead ≤ 10% over plain fetch at 100 KB (${runtime})`,
      overhead(figures, `${prefix}fetch:100k`, `${prefix}miss:100k`),
      (percent) => percent <= 10,
      { unit: "%", floor: overhead(figures, `${prefix}fetch:100k`, `${prefix}copy:100k`) },
    ));
  }
  for (const backend of ["memory", "sqlite"]) {
    checks.push(check(
      `Hit latency (p50) at 1M entries ≤ 1.5× that at 1k, ${backend} (Deno)`,
      latency(figures, `scale:${backend}:1000000`, `scale:${backend}:1000`),
      (ratio) => ratio <= 1.5,
      { floor: latency(figures, "scale:floor:1000000", "scale:floor:1000") },
    ));
  }
  checks.push(check(
    "Redis hit ≤ 1.3× a raw GET of the same bytes, same client, 1 KB (Deno): time ratio",
    speedup(figures, "redis-raw:1k", "redis-hit:1k"),
    (ratio) => ratio <= 1.3,
    { floor: speedup(figures, "redis-raw:1k", "redis-floor:1k") },
  ));
  const perEntry = value(figures, "memory:overhead");
  checks.push(check(
    "Memory backend overhead ≤ 512 bytes per entry beyond the body (Deno)",
    perEntry && { whole: perEntry.opsPerSec },
    (bytes) => bytes <= 512,
    { unit: " B" },
  ));
  return {
    title: "Targets",
    columns: ["target", "measured", "lowest to highest round", "the floor, same measure", "status"],
    rows: checks.map(({ target, measured, rounds, floor, met }) => [
      target,
      measured,
      rounds,
      floor,
      met === undefined ? "–" : met ? "met" : "not met",
    ]),
    notes: [
      "Measured: over the whole run (the median round of each case, or the p50s). Cases compared are " +
      "timed side by side, a slice of each per round; their ratio round by round shows how far the " +
      "machine's noise moves it.",
      "The floor, same measure: the target's ratio taken of the least work of its kind, timed beside it " +
      "(a miss: plain fetch keeping a copy of each body; scaling: a plain Map of the URLs' bytes; " +
      "Redis: the key, the raw GET and a plain Response of its bytes).",
    ],
  };
}
