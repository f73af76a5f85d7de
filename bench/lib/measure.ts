/** Timing helpers: wall-clock milliseconds, percentiles, and repeated measurements of one statement. */
import { performance } from "node:perf_hooks";
import type pg from "pg";

export const now = (): number => performance.now();

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = now();
  const result = await work();
  return { ms: now() - start, result };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export interface StatementTiming {
  readonly p50: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
  /** Rows the statement changed (or returned) on its last run. */
  readonly rows: number;
}

/**
 * Times a statement `runs` times, each in a transaction that is rolled back, so every run sees the
 * same data (a task that changes rows would otherwise change nothing from its second run on).
 * `setup` runs inside the transaction first and is not timed (SET LOCAL, a DROP INDEX to see a
 * plan without it). A first, untimed run warms the cache and the plan.
 */
export async function timeInRollback(
  client: pg.ClientBase,
  sql: string,
  options: { runs: number; setup?: string; params?: unknown[]; warmup?: boolean },
): Promise<StatementTiming> {
  const times: number[] = [];
  let rows = 0;
  const total = options.runs + (options.warmup === false ? 0 : 1);
  for (let i = 0; i < total; i++) {
    await client.query("BEGIN");
    try {
      if (options.setup) await client.query(options.setup);
      const start = now();
      const result = await client.query(sql, options.params);
      const ms = now() - start;
      rows = result.rowCount ?? 0;
      if (i > 0 || options.warmup === false) times.push(ms);
    } finally {
      await client.query("ROLLBACK");
    }
  }
  return summarize(times, rows);
}

/**
 * Two statements timed as `timeInRollback` times one, alternating run by run (a, b, a, b ...), so
 * that a drift of the machine's load or the cache weighs on both alike: for sub-millisecond
 * statements, where running one 50 times and then the other measures the machine as much as them.
 */
export async function timeInRollbackAlternating(
  client: pg.ClientBase,
  a: string | { readonly sql: string; readonly params?: readonly unknown[] },
  b: string | { readonly sql: string; readonly params?: readonly unknown[] },
  options: { runs: number; setup?: string },
): Promise<{ a: StatementTiming; b: StatementTiming }> {
  const statements = { a: typeof a === "string" ? { sql: a } : a, b: typeof b === "string" ? { sql: b } : b };
  const times = { a: [] as number[], b: [] as number[] };
  const rows = { a: 0, b: 0 };
  for (let i = 0; i <= options.runs; i++) {
    for (const which of i % 2 === 0 ? (["a", "b"] as const) : (["b", "a"] as const)) {
      await client.query("BEGIN");
      try {
        if (options.setup) await client.query(options.setup);
        const { sql, params } = statements[which];
        const start = now();
        const result = await client.query(sql, params ? [...params] : undefined);
        const ms = now() - start;
        rows[which] = result.rowCount ?? 0;
        // The first round warms the cache and the plans of both.
        if (i > 0) times[which].push(ms);
      } finally {
        await client.query("ROLLBACK");
      }
    }
  }
  return { a: summarize(times.a, rows.a), b: summarize(times.b, rows.b) };
}

export function summarize(times: readonly number[], rows = 0): StatementTiming {
  return {
    p50: median(times),
    p99: percentile(times, 99),
    min: Math.min(...times),
    max: Math.max(...times),
    runs: times.length,
    rows,
  };
}

/** Like timeInRollback, but a statement cut off by `statement_timeout` reports the cap instead of failing. */
export async function timeCapped(
  client: pg.ClientBase,
  sql: string,
  options: { capMs: number; setup?: string; runs: number },
): Promise<{ timing: StatementTiming | null; stoppedAtMs?: number }> {
  try {
    const timing = await timeInRollback(client, sql, {
      runs: options.runs,
      warmup: false,
      setup: `${options.setup ?? ""};SET LOCAL statement_timeout = ${Math.round(options.capMs)}`,
    });
    return { timing };
  } catch (error) {
    if ((error as { code?: string }).code === "57014") return { timing: null, stoppedAtMs: options.capMs };
    throw error;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
