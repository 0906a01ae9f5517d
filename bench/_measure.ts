/**
 * Timing harness shared by the Deno and the Node benchmarks. It runs on any runtime (only
 * `performance.now()`), and it is built for ratios: the cases being compared run interleaved, a
 * slice of each per round, so that a noisy neighbour slows them all alike.
 *
 * @module
 */

/** One thing to time: `run` is awaited once per operation. */
export interface Case {
  /** Row label. */
  name: string;
  /** One operation (a request with its body read to the end). */
  run: () => Promise<unknown>;
}

/** What was measured for one case. */
export interface Result {
  /** Row label. */
  name: string;
  /** Operations per second (median over the rounds). */
  opsPerSec: number;
  /** Median latency of one operation, in microseconds. */
  p50: number;
  /** 99th-percentile latency, in microseconds. */
  p99: number;
  /** Operations timed. */
  ops: number;
  /**
   * Operations per second in each round, in order. Cases compared in one run are timed side by
   * side, a slice each per round, so their rounds pair up: the ratio of two cases round by round
   * shows how far the machine's noise moves it.
   */
  rounds: number[];
}

/** How long to measure. */
export interface Budget {
  /** Rounds after the warm-up; every case runs once per round. */
  rounds: number;
  /** Time each case runs per round, in milliseconds. */
  sliceMs: number;
  /** Upper bound on operations per slice (for slow operations on big bodies). */
  maxOps?: number | undefined;
}

/** A budget that keeps the whole run within a few minutes; `BENCH_SCALE` multiplies it. */
export function budget(sliceMs = 120, rounds = 5): Budget {
  const scale = Number(env("BENCH_SCALE") ?? 1) || 1;
  return { rounds: Math.max(2, Math.round(rounds * Math.min(scale, 4))), sliceMs: sliceMs * scale };
}

/**
 * Times the cases interleaved: one warm-up slice each, then `rounds` slices each, in rotating
 * order. (No forced collection between slices: a full `gc()` leaves V8 slower for a while, which
 * made the cases after it up to 1.7× slower.)
 *
 * @param cases What to time.
 * @param budget How long.
 * @returns One result per case, in the order given.
 */
export async function compare(cases: Case[], budget: Budget): Promise<Result[]> {
  const samples = cases.map(() => new Samples());
  const rates: number[][] = cases.map(() => []);
  for (const item of cases) await slice(item, Math.min(budget.sliceMs, 100), budget.maxOps, new Samples());
  for (let round = 0; round < budget.rounds; round++) {
    for (let i = 0; i < cases.length; i++) {
      const at = (i + round) % cases.length;
      const rate = await slice(cases[at]!, budget.sliceMs, budget.maxOps, samples[at]!);
      rates[at]!.push(rate);
    }
  }
  return cases.map((item, i) => ({
    name: item.name,
    opsPerSec: median(rates[i]!),
    p50: samples[i]!.quantile(0.5),
    p99: samples[i]!.quantile(0.99),
    ops: samples[i]!.length,
    rounds: rates[i]!,
  }));
}

async function slice(item: Case, ms: number, maxOps = Infinity, samples: Samples): Promise<number> {
  const start = performance.now();
  const end = start + ms;
  let ops = 0;
  let now = start;
  while (now < end && ops < maxOps) {
    const before = now;
    await item.run();
    now = performance.now();
    samples.add((now - before) * 1000);
    ops++;
  }
  return ops / ((now - start) / 1000);
}

class Samples {
  #values = new Float64Array(1 << 16);
  length = 0;

  add(value: number): void {
    if (this.length === this.#values.length) {
      const grown = new Float64Array(this.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.length++] = value;
  }

  quantile(q: number): number {
    if (this.length === 0) return NaN;
    const sorted = this.#values.slice(0, this.length).sort();
    return sorted[Math.min(this.length - 1, Math.floor(q * this.length))]!;
  }
}

/**
 * The median of some numbers.
 *
 * @param values The numbers.
 * @returns Their median.
 */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** An environment variable, on Deno (with or without permission) and Node. */
export function env(name: string): string | undefined {
  try {
    const deno = (globalThis as { Deno?: { env: { get(name: string): string | undefined } } }).Deno;
    if (deno !== undefined) return deno.env.get(name);
    return (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
  } catch {
    return undefined;
  }
}
