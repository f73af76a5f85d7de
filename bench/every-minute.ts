/**
 * The every-minute tasks as orders grow: auto-cancel and the driver inactivity check at each
 * steady-state size, beside the same statement at the smallest size. Index-driven statements cost
 * the same at 5M orders as at 100k; a statement that reads the table grows with it. The plan's scan
 * nodes are recorded to show which it is. The design document's statements run on the largest.
 */
import pg from "pg";
import { findTask } from "../functions/core/catalog.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
import * as design from "./design-document-sql.js";
import type { BenchContext } from "./lib/context.js";
import { count } from "./lib/context.js";
import { timeInRollback, timeInRollbackAlternating } from "./lib/measure.js";
import { indexDriven, scanNodes } from "./lib/plan.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";

const SECTION = "Every-minute tasks as orders grow";
const SMALL_TABLE = 10_000;

const subjects = [
  { task: "auto-cancel-unconfirmed-orders", table: "orders", design: design.autoCancel },
  { task: "driver-inactivity-check", table: "drivers", design: design.driverInactivity },
] as const;

export async function everyMinute(
  context: BenchContext,
  datasets: readonly { orders: number; url: string }[],
): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const subject of subjects) {
    const task = findTask(subject.task)!;
    const statement = sqlOf(task).statement!;
    const measured: {
      orders: number;
      p50: number;
      p99: number;
      rows: number;
      plan: string[];
      tableRows: number;
    }[] = [];
    for (const dataset of datasets) {
      const client = new pg.Client({ connectionString: dataset.url });
      await client.connect();
      try {
        const timing = await timeInRollback(client, statement, { runs: context.options.runs.fast });
        const plan = await scanNodes(client, statement);
        const tableRows = Number(
          (
            await client.query<{ n: string }>(
              "SELECT reltuples::bigint AS n FROM pg_class WHERE relname = $1",
              [subject.table],
            )
          ).rows[0]?.n ?? 0,
        );
        measured.push({
          orders: dataset.orders,
          p50: timing.p50,
          p99: timing.p99,
          rows: timing.rows,
          plan,
          tableRows,
        });
        context.log(
          `  ${subject.task} at ${count(dataset.orders)}: p50 ${timing.p50.toFixed(3)} ms; ${plan.join("; ")}`,
        );
      } finally {
        await client.end();
      }
    }
    const base = measured[0]!;
    for (const m of measured) {
      const isBase = m === base;
      figures.push(
        figure({
          section: SECTION,
          name: `${subject.task} at ${count(m.orders)} orders (p50)`,
          value: m.p50,
          unit: "ms",
          reference: isBase ? "(the reference)" : `the same at ${count(base.orders)}`,
          referenceValue: isBase ? null : base.p50,
          goal: isBase ? "index-driven plan" : "≤ 1.5x, index-driven plan",
          // A table of a few pages is read whole, index or not: the plan matters once it is large.
          verdict:
            (indexDriven(m.plan, subject.table) || m.tableRows < SMALL_TABLE) &&
            (isBase || m.p50 <= 1.5 * base.p50)
              ? "pass"
              : "short",
          note: `${m.plan.join("; ")}${m.tableRows < SMALL_TABLE ? ` (${subject.table} holds ${m.tableRows} rows: too few for an index to pay)` : ""}; ${m.rows} rows due (p99 ${m.p99.toFixed(2)} ms, ${context.options.runs.fast} runs)`,
          details: { ...m, task: subject.task },
        }),
      );
    }

    // The design document's statement on the largest data set, beside ours there.
    const largest = datasets[datasets.length - 1]!;
    const client = new pg.Client({ connectionString: largest.url });
    await client.connect();
    try {
      const { a: theirs, b: ours } = await timeInRollbackAlternating(client, subject.design, statement, {
        runs: context.options.runs.fast,
      });
      const plan = await scanNodes(client, subject.design);
      figures.push(
        figure({
          section: SECTION,
          name: `${subject.task} at ${count(largest.orders)}: ours (p50)`,
          value: ours.p50,
          unit: "ms",
          reference: "the design document's statement, same data and indexes",
          referenceValue: theirs.p50,
          goal: "≤ 1.1x (as fast, within noise)",
          verdict: ours.p50 <= 1.1 * theirs.p50 ? "pass" : "short",
          note: `design document's plan: ${plan.join("; ")}; rows: ours ${ours.rows}, theirs ${theirs.rows}; ${context.options.runs.fast} runs each, alternating`,
          details: { ours, theirs, theirPlan: plan },
        }),
      );
    } finally {
      await client.end();
    }
  }
  return figures;
}
