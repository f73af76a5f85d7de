/**
 * A load driver: fires many requests at once, times each, and reports latency percentiles; and the
 * count of a database's server connections, to show that a run of load leaks none.
 */
import type pg from "pg";

export interface Timed<T> {
  readonly value?: T;
  readonly error?: unknown;
  readonly durationMs: number;
}

export interface LoadReport<T> {
  readonly results: ReadonlyArray<Timed<T>>;
  readonly wallMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The nearest-rank percentile of already sorted numbers. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]!;
}

/** Starts `count` calls at once (no client-side queue) and waits for all of them. */
export async function fireAtOnce<T>(
  count: number,
  call: (index: number) => Promise<T>,
): Promise<LoadReport<T>> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: count }, async (_, index): Promise<Timed<T>> => {
      const t0 = performance.now();
      try {
        const value = await call(index);
        return { value, durationMs: performance.now() - t0 };
      } catch (error) {
        return { error, durationMs: performance.now() - t0 };
      }
    }),
  );
  const wallMs = performance.now() - started;
  const sorted = results.map((r) => r.durationMs).sort((a, b) => a - b);
  return {
    results,
    wallMs,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Server connections to `database` opened under `applicationName` (a pool sets it). */
export async function connectionCount(
  admin: Pick<pg.Client | pg.Pool, "query">,
  database: string,
  applicationName = "scheduled-jobs",
): Promise<number> {
  const result = await admin.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
    [database, applicationName],
  );
  return result.rows[0]!.n;
}
