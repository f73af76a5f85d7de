/**
 * The daily tasks on the largest steady-state data set, each beside the design document's statement
 * for the same task on the same data and indexes, and beside that statement without the indexes
 * our migration adds (what the design document's setup would run: a missing index costs seconds to
 * minutes; such a run is stopped at the cap). Also what each version changes, where they differ.
 */
import pg from "pg";
import { findTask } from "../functions/core/catalog.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
import { oneUpdate } from "./bulk-archive.js";
import * as design from "./design-document-sql.js";
import type { BenchContext } from "./lib/context.js";
import { count } from "./lib/context.js";
import type { StatementTiming } from "./lib/measure.js";
import { timeCapped, timeInRollbackAlternating } from "./lib/measure.js";
import { scanNodes } from "./lib/plan.js";
import type { Figure } from "./lib/report.js";
import { figure, formatMs } from "./lib/report.js";

const CORRECTNESS = "Correctness: ours beside the design document's statements";

export async function dailyTasks(
  context: BenchContext,
  dataset: { orders: number; url: string },
): Promise<Figure[]> {
  const section = `Daily tasks at ${count(dataset.orders)} orders`;
  const figures: Figure[] = [];
  const client = new pg.Client({ connectionString: dataset.url });
  await client.connect();
  const { runs, capMs } = context.options;
  try {
    const statementOf = (name: string): string => sqlOf(findTask(name)!).statement!;
    const archive = findTask("archive-old-orders")!;
    const archiveBatch = sqlOf(archive).batch!;
    const batchSize = archive.batch!.size;

    const compare = async (subject: {
      name: string;
      ours: string;
      oursParams?: number[];
      /** Run (untimed) before both statements, in their transaction. */
      setup?: string;
      design: string;
      what: string;
    }): Promise<{ ours: StatementTiming; theirs: StatementTiming }> => {
      // Alternating run by run, so that the machine's drift weighs on both alike.
      const { a: ours, b: theirs } = await timeInRollbackAlternating(
        client,
        { sql: subject.ours, ...(subject.oursParams ? { params: subject.oursParams } : {}) },
        subject.design,
        { runs: runs.slow, ...(subject.setup ? { setup: subject.setup } : {}) },
      );
      const plan = await scanNodes(client, subject.ours, subject.oursParams);
      context.log(`  ${subject.name}: ours ${formatMs(ours.p50)}, design document's ${formatMs(theirs.p50)}`);
      figures.push(
        figure({
          section,
          name: `${subject.name} (p50)`,
          value: ours.p50,
          unit: "ms",
          reference: "the design document's statement, same data and indexes",
          referenceValue: theirs.p50,
          goal: "≤ 100 ms, and ≤ 1.1x the reference",
          verdict: ours.p50 <= 100 && ours.p50 <= 1.1 * theirs.p50 ? "pass" : "short",
          note: `${subject.what}; rows: ours ${ours.rows}, design document's ${theirs.rows}; our plan: ${plan.join("; ")}`,
          details: { ours, theirs, plan },
        }),
      );
      return { ours, theirs };
    };

    const withoutIndexes = async (subject: {
      name: string;
      design: string;
      indexes: readonly string[];
      setup?: string;
      ours: StatementTiming;
      what?: string;
    }): Promise<void> => {
      const setup = [subject.setup, design.withoutIndexes(subject.indexes)].filter(Boolean).join(";");
      const capped = await timeCapped(client, subject.design, { capMs, runs: 1, setup });
      const value = capped.timing?.p50 ?? null;
      context.log(`  ${subject.name}: ${value === null ? `stopped at ${formatMs(capMs)}` : formatMs(value)}`);
      figures.push(
        figure({
          section,
          name: subject.name,
          value,
          unit: "ms",
          display: value === null ? `> ${formatMs(capMs)} (stopped)` : undefined,
          reference: "ours, with the indexes",
          referenceValue: subject.ours.p50,
          ratio: value === null ? capMs / subject.ours.p50 : undefined,
          goal: "(what the indexes save)",
          verdict: "info",
          note: `without ${subject.indexes.join(", ")}${subject.what ? `; ${subject.what}` : ""}${value === null ? "; the ratio is a lower bound" : ""}`,
        }),
      );
    };

    // update-restaurant-ratings
    const reviewed = await client.query<{ two: string; one: string }>(
      `SELECT count(DISTINCT restaurant_id) FILTER (WHERE created_at > now() - interval '2 days') AS two,
              count(DISTINCT restaurant_id) FILTER (WHERE created_at > now() - interval '1 day') AS one
       FROM reviews WHERE created_at > now() - interval '2 days'`,
    );
    // Steady state: the data's ratings are up to date as of a day ago, which is when the task last succeeded.
    const lastSuccess = `INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at)
      VALUES ('update-restaurant-ratings', 'scheduler', 'succeeded', now() - interval '1 day', now() - interval '1 day')`;
    const ratings = await compare({
      name: "update-restaurant-ratings",
      ours: statementOf("update-restaurant-ratings"),
      setup: lastSuccess,
      design: design.restaurantRatings,
      what: `its last success a day ago: ours recomputes the restaurants reviewed since then (10 minutes' margin; at most 2 days: ${reviewed.rows[0]!.two} restaurants) and writes changed ratings only; the design document's, the ${reviewed.rows[0]!.one} reviewed in 1 day, all written`,
    });
    await withoutIndexes({
      name: "update-restaurant-ratings: design document's statement without the task indexes",
      design: design.restaurantRatings,
      indexes: design.taskIndexes["update-restaurant-ratings"],
      ours: ratings.ours,
    });

    // cleanup-orphaned-menus
    const menus = await compare({
      name: "cleanup-orphaned-menus",
      ours: statementOf("cleanup-orphaned-menus"),
      design: design.orphanedMenus,
      what: "with one restaurant_menus row whose menu_id is NULL",
    });
    await withoutIndexes({
      name: "cleanup-orphaned-menus: design document's statement without the task indexes, no NULL link",
      design: design.orphanedMenus,
      indexes: design.taskIndexes["cleanup-orphaned-menus"],
      setup: "DELETE FROM restaurant_menus WHERE menu_id IS NULL",
      ours: menus.ours,
      what: "the NULL link removed so that it deletes at all: each deleted menu checks restaurant_menus' foreign key",
    });

    // archive-old-orders, steady state
    await compare({
      name: "archive-old-orders, steady state: one batch (a day due)",
      ours: archiveBatch,
      oursParams: [batchSize],
      design: design.archiveOldOrders,
      what: `ours: the run's first batch, at most ${batchSize} rows${archive.batch!.sizedByTime ? ` (the next ones are sized to aim at ${archive.batch!.sizedByTime.targetMs} ms each)` : " (its longest transaction)"}; the reference archives the whole day in one statement`,
    });
    await compare({
      name: "archive-old-orders, steady state (nothing due)",
      ours: archiveBatch,
      oursParams: [batchSize],
      setup: oneUpdate,
      design: design.archiveOldOrders,
      what: "after the due rows were archived in the same transaction: ours is the run's last, short batch",
    });

    // generate-daily-stats
    await compare({
      name: "generate-daily-stats",
      ours: statementOf("generate-daily-stats"),
      design: design.dailyStats,
      what: "ours: yesterday, by orders_created_at_idx; design document's: today, DATE(created_at) = CURRENT_DATE",
    });

    figures.push(...(await correctness(client, { ratings })));
  } finally {
    await client.end();
  }
  return figures;
}

/**
 * The expected count, ours and theirs in one transaction, each undone before the next: now() is the
 * transaction's start, so all three judge the same moment (no row crosses a cut-off in between).
 */
async function atOneMoment(
  client: pg.Client,
  input: {
    expected: string;
    ours: string;
    /** For a batch statement: [batch size]; ours then runs batch after batch until one comes back short. */
    oursParams?: [number];
    theirs: string;
    setup?: string;
  },
): Promise<{ expected: number; ours: number; theirs: number }> {
  await client.query("BEGIN");
  try {
    if (input.setup) await client.query(input.setup);
    const expected = Number((await client.query<{ n: string }>(input.expected)).rows[0]!.n);
    await client.query("SAVEPOINT before");
    let ours = 0;
    for (;;) {
      const changed = (await client.query(input.ours, input.oursParams)).rowCount ?? 0;
      ours += changed;
      if (!input.oursParams || changed < input.oursParams[0]) break;
    }
    await client.query("ROLLBACK TO SAVEPOINT before");
    const theirs = (await client.query(input.theirs)).rowCount ?? 0;
    return { expected, ours, theirs };
  } finally {
    await client.query("ROLLBACK");
  }
}

async function correctness(
  client: pg.Client,
  measured: { ratings: { ours: StatementTiming; theirs: StatementTiming } },
): Promise<Figure[]> {
  const figures: Figure[] = [];
  const row = (input: {
    name: string;
    ours: number;
    theirs: number | null;
    theirsDisplay?: string;
    expected: number | null;
    goal: string;
    note: string;
    verdict?: "pass" | "short" | "info";
  }): Figure =>
    figure({
      section: CORRECTNESS,
      name: input.name,
      value: input.ours,
      unit: "rows",
      reference: "the design document's statement",
      referenceValue: input.theirs,
      referenceDisplay: input.theirsDisplay,
      ratio: null,
      goal: input.goal,
      verdict: input.verdict ?? (input.expected === null || input.ours === input.expected ? "pass" : "short"),
      note: input.note,
      details: { expected: input.expected },
    });

  const menus = await atOneMoment(client, {
    expected: `SELECT count(*) AS n FROM menus m LEFT JOIN restaurant_menus rm ON rm.menu_id = m.id
               WHERE rm.id IS NULL AND m.created_at < now() - interval '30 days'`,
    ours: sqlOf(findTask("cleanup-orphaned-menus")!).statement!,
    theirs: design.orphanedMenus,
  });
  figures.push(
    row({
      name: "cleanup-orphaned-menus with one NULL menu_id link: menus deleted",
      ours: menus.ours,
      theirs: menus.theirs,
      expected: menus.expected,
      goal: `every orphan older than 30 days (${menus.expected})`,
      note: "NOT IN over a set holding a NULL is never true: the design document's version deletes nothing",
    }),
  );

  const finished = `is_active AND status IN ('delivered', 'cancelled', 'refunded') AND updated_at < now() - interval '90 days'`;
  const archive = findTask("archive-old-orders")!;
  const archived = await atOneMoment(client, {
    expected: `SELECT count(*) AS n FROM orders WHERE ${finished}`,
    ours: sqlOf(archive).batch!,
    oursParams: [archive.batch!.size],
    theirs: design.archiveOldOrders,
  });
  const dueByStatus = await client.query<{ status: string; n: string }>(
    `SELECT status, count(*) AS n FROM orders WHERE ${finished} GROUP BY status ORDER BY status`,
  );
  figures.push(
    row({
      name: "archive-old-orders, steady state: orders archived",
      ours: archived.ours,
      theirs: archived.theirs,
      expected: archived.expected,
      goal: `every order finished more than 90 days ago (${archived.expected}: ${dueByStatus.rows.map((r) => `${r.n} ${r.status}`).join(", ")})`,
      note: "the design document's version dates every order by delivered_at: cancelled orders (and refunds before delivery) are never archived, and a refund is archived 90 days after its delivery rather than after the refund",
    }),
  );

  const cancelled = await atOneMoment(client, {
    setup: "DELETE FROM system_settings WHERE setting_key = 'order_auto_cancel_minutes'",
    expected: `SELECT count(*) AS n FROM orders WHERE status = 'pending' AND is_active AND placed_at < now() - interval '30 minutes'`,
    ours: sqlOf(findTask("auto-cancel-unconfirmed-orders")!).statement!,
    theirs: design.autoCancel,
  });
  figures.push(
    row({
      name: "auto-cancel-unconfirmed-orders with order_auto_cancel_minutes unset: orders cancelled",
      ours: cancelled.ours,
      theirs: cancelled.theirs,
      expected: cancelled.expected,
      goal: `the pending orders older than the default 30 minutes (${cancelled.expected})`,
      note: "the design document's version compares placed_at with NULL when the setting is absent and cancels nothing",
    }),
  );

  // A rerun of the same day (a scheduler retry): ours writes nothing new, theirs fails.
  const oursStats = sqlOf(findTask("generate-daily-stats")!).statement!;
  await client.query("BEGIN");
  let oursRerun: number;
  let theirsRerun: string;
  try {
    await client.query(oursStats);
    oursRerun = (await client.query(oursStats)).rowCount ?? 0;
    await client.query(design.dailyStats);
    await client.query("SAVEPOINT rerun");
    try {
      const again = await client.query(design.dailyStats);
      theirsRerun = `${again.rowCount ?? 0} rows`;
    } catch (error) {
      theirsRerun = `fails (${(error as { code?: string }).code ?? "error"}: ${(error as Error).message})`;
      await client.query("ROLLBACK TO SAVEPOINT rerun");
    }
  } finally {
    await client.query("ROLLBACK");
  }
  figures.push(
    row({
      name: "generate-daily-stats run twice for one day: rows written by the second run",
      ours: oursRerun,
      theirs: null,
      theirsDisplay: theirsRerun,
      expected: 0,
      goal: "0 (a retry is harmless)",
      note: "the design document's version also counts cancelled and refunded orders as revenue and, run at 23:59, misses the day's last minute",
    }),
  );

  figures.push(
    row({
      name: "update-restaurant-ratings: restaurants written",
      ours: measured.ratings.ours.rows,
      theirs: measured.ratings.theirs.rows,
      expected: null,
      goal: "only ratings that change",
      verdict: "info",
      note: "the design document's version rewrites every restaurant reviewed in the last day, changed or not, and a missed day's run loses that day; ours looks back to its last success (at most two days)",
    }),
  );
  return figures;
}
