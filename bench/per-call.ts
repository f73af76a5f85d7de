/**
 * What the runner adds to one call: a task that changes nothing, run through `runTask` (run record,
 * lock, statement timeout, transaction, end record), beside its SQL alone through the same warm
 * pool. Calls alternate, so both see the same machine. The runner's round trips are counted.
 */
import pg from "pg";
import { findTask } from "../functions/core/catalog.js";
import { createPool } from "../functions/core/db/pool.js";
import { runTask } from "../functions/core/run/runner.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
import type { BenchContext } from "./lib/context.js";
import { count } from "./lib/context.js";
import { now, percentile } from "./lib/measure.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";

export async function perCall(
  context: BenchContext,
  dataset: { orders: number; url: string },
): Promise<Figure[]> {
  const section = `Per call: the runner beside the SQL alone (warm pool, ${count(dataset.orders)} orders)`;
  const task = findTask("auto-cancel-unconfirmed-orders")!;
  const statement = sqlOf(task).statement!;
  const pool = createPool({ connectionString: dataset.url, max: 2 });
  try {
    // The first run cancels what is due; from then on the task changes nothing, as most minutes.
    await runTask({ pool }, { task, trigger: "cli" });
    for (let i = 0; i < 20; i++) {
      await pool.query(statement);
      await runTask({ pool }, { task, trigger: "cli" });
    }
    const sqlAlone: number[] = [];
    const runner: number[] = [];
    for (let i = 0; i < context.options.runs.calls; i++) {
      let start = now();
      await pool.query(statement);
      sqlAlone.push(now() - start);
      start = now();
      const result = await runTask({ pool }, { task, trigger: "cli" });
      runner.push(now() - start);
      if (result.status !== "succeeded") throw new Error(`runTask answered ${result.status}`);
    }
    const trips = await roundTrips(() => runTask({ pool }, { task, trigger: "cli" }));
    const p = (values: number[], q: number): number => percentile(values, q);
    context.log(
      `  runTask p50 ${p(runner, 50).toFixed(3)} ms, SQL alone p50 ${p(sqlAlone, 50).toFixed(3)} ms, ${trips} round trips`,
    );
    const overhead50 = p(runner, 50) - p(sqlAlone, 50);
    const overhead99 = p(runner, 99) - p(sqlAlone, 99);
    return [
      figure({
        section,
        name: `${task.name} through runTask (p50)`,
        value: p(runner, 50),
        unit: "ms",
        reference: "its SQL alone, pool.query (p50)",
        referenceValue: p(sqlAlone, 50),
        goal: "overhead < 2 ms (the whole request's budget)",
        verdict: overhead50 < 2 ? "pass" : "short",
        note: `overhead ${overhead50.toFixed(2)} ms; ${trips} round trips per run against 1 (one simple query: the run opened and committed, then scheduler.run_opened_statement, the statement and its record); ${context.options.runs.calls} calls each, alternating`,
        details: { runner: summary(runner), sqlAlone: summary(sqlAlone), roundTrips: trips },
      }),
      figure({
        section,
        name: "round trips a run adds to its statement's",
        value: trips - 1,
        unit: "calls",
        display: `${trips - 1} (${trips} in all)`,
        reference: "the SQL alone",
        referenceValue: 1,
        referenceDisplay: "1 round trip",
        ratio: null,
        goal: "at most 2, or 1 with the runner's SQL side a database routine",
        verdict: trips - 1 <= 2 ? "pass" : "short",
        note: "one simple query: scheduler.start_run (lock, pause, dedup, the running row, settings) in a transaction of its own, committed without waiting for its flush, then scheduler.run_opened_statement runs the statement and records its success in one transaction (migrations 000012, 000013)",
      }),
      figure({
        section,
        name: `${task.name} through runTask (p99)`,
        value: p(runner, 99),
        unit: "ms",
        reference: "its SQL alone, pool.query (p99)",
        referenceValue: p(sqlAlone, 99),
        goal: "overhead < 10 ms",
        verdict: overhead99 < 10 ? "pass" : "short",
        note: `overhead ${overhead99.toFixed(2)} ms`,
      }),
    ];
  } finally {
    await pool.end();
  }
}

function summary(values: number[]): Record<string, number> {
  return {
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: Math.max(...values),
  };
}

/** Counts the queries any pg.Client sends while `work` runs: each is one round trip. */
async function roundTrips(work: () => Promise<unknown>): Promise<number> {
  const prototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = prototype.query;
  let queries = 0;
  prototype.query = function (this: unknown, ...args: unknown[]) {
    queries += 1;
    return original.apply(this, args);
  };
  try {
    await work();
  } finally {
    prototype.query = original;
  }
  return queries;
}
