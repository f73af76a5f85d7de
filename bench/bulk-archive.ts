/**
 * The bulk archive of a backlog (the archive never ran: every finished order is still active),
 * batched through the real runner, beside one UPDATE of the same rows, each on its own clone of the
 * same generated database. While each runs, a writer updates random active orders (most of them in
 * the backlog) every 5 ms, as drivers and customers would; its longest wait is how long the archive
 * blocked it. A batch's duration is the runner's own timing of its one autocommitted statement
 * (its transaction's round trip), reported with each progress callback.
 */
import pg from "pg";
import { batchTimeoutMs } from "../functions/core/run/batch-sizing.js";
import type { TaskDefinition } from "../functions/core/catalog.js";
import { findTask } from "../functions/core/catalog.js";
import { createPool } from "../functions/core/db/pool.js";
import { runTask } from "../functions/core/run/runner.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
import type { BenchContext } from "./lib/context.js";
import { count } from "./lib/context.js";
import { now, percentile, sleep } from "./lib/measure.js";
import type { ServerLogLine } from "./lib/postgres.js";
import { cloneDatabase, createDataset, dropDatabase } from "./lib/postgres.js";
import type { Figure } from "./lib/report.js";
import { figure, formatMs } from "./lib/report.js";

/** One UPDATE of every row the task would archive: the predicate of sql/tasks/archive-old-orders.sql. */
export const oneUpdate = `
UPDATE orders
SET is_active = false,
    updated_at = now()
WHERE is_active
  AND status IN ('delivered', 'cancelled', 'refunded')
  AND (CASE
    WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)
    WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)
    ELSE updated_at
  END) < now() - interval '90 days'`;

/** Share of generated orders that finished more than 90 days before now (640 of 730 days). */
const ARCHIVABLE_SHARE = 640 / 730;

interface WriterReport {
  readonly writes: number;
  readonly maxMs: number;
  readonly p99Ms: number;
  readonly p50Ms: number;
}

/** A concurrent writer: one UPDATE of a random active order every 5 ms, until stopped. */
async function startWriter(url: string): Promise<{ stop(): Promise<WriterReport> }> {
  const client = new pg.Client({ connectionString: url, application_name: "bench-writer" });
  await client.connect();
  const ids = (
    await client.query<{ id: string }>("SELECT id FROM orders WHERE is_active ORDER BY random() LIMIT 5000")
  ).rows.map((r) => r.id);
  const latencies: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const id = ids[Math.floor(Math.random() * ids.length)];
      const start = now();
      // Takes the row lock and writes a new row version, as any real update does.
      await client.query("UPDATE orders SET total_amount = total_amount WHERE id = $1", [id]);
      latencies.push(now() - start);
      await sleep(5);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await client.end();
      return {
        writes: latencies.length,
        maxMs: Math.max(0, ...latencies),
        p99Ms: percentile(latencies, 99),
        p50Ms: percentile(latencies, 50),
      };
    },
  };
}

/**
 * Each batch's transaction on the server's clock, from the server's log of the batched database
 * (log_statement = all, log_min_duration_statement = 0 there): a committed batch's logged duration
 * runs from the message's arrival to its commit; a cancelled one's, from its statement line to its
 * error (its locks go with the abort that follows at once). The runner's own timing adds the
 * client's side of the round trip: on a loaded machine, stalls that hold no lock.
 */
function serverTransactions(
  lines: readonly ServerLogLine[],
  database: string,
): { committed: number[]; cancelled: number[] } {
  const committed: number[] = [];
  const cancelled: number[] = [];
  const started = new Map<number, number>();
  for (const line of lines) {
    if (line.database !== database) continue;
    if (line.message.startsWith("LOG:  statement: SET LOCAL statement_timeout")) {
      started.set(line.pid, line.at);
    } else if (started.has(line.pid) && line.message.startsWith("LOG:  duration: ")) {
      committed.push(Number(/duration: ([\d.]+) ms/.exec(line.message)?.[1]));
      started.delete(line.pid);
    } else if (started.has(line.pid) && line.message.startsWith("ERROR:") && line.code === "57014") {
      cancelled.push(line.at - started.get(line.pid)!);
      started.delete(line.pid);
    }
  }
  return { committed, cancelled };
}

/** "5000 rows", or how a run sized by time sized its batches. */
function batchSizes(task: TaskDefinition, sizes: number[]): string {
  const sizing = task.batch?.sizedByTime;
  if (!sizing) return `${task.batch?.size ?? 0} rows`;
  const full = sizes.slice(0, -1);
  return `${Math.min(...full)} to ${Math.max(...full)} rows (p50 ${percentile(full, 50)}), sized by time: ${sizing.targetMs} ms aimed, ${sizing.minSize} to ${sizing.maxSize} rows, first ${task.batch!.size}`;
}

export async function bulkArchive(context: BenchContext, backlog: number): Promise<Figure[]> {
  const { server, log } = context;
  const section = `Bulk archive of a ${count(backlog)}-row backlog`;
  const orders = Math.ceil(backlog / ARCHIVABLE_SHARE);
  const template = `bench_backlog_${backlog}`;
  const task = findTask("archive-old-orders")!;
  log(`bulk archive: generating ${count(orders)} orders, none archived`);
  const { url: templateUrl } = await createDataset(server, template, { orders, archived: false }, log);
  const probe = new pg.Client({ connectionString: templateUrl });
  await probe.connect();
  const due = Number((await probe.query<{ rows: string }>(sqlOf(task).count!, [null])).rows[0]!.rows);
  await probe.end();
  log(`  ${due} rows to archive in ${orders} orders`);

  try {
    // The reference: one UPDATE, one transaction.
    const oneUrl = await cloneDatabase(server, template, `${template}_one`);
    let single: { ms: number; rows: number; writer: WriterReport };
    {
      const client = new pg.Client({ connectionString: oneUrl });
      await client.connect();
      const writer = await startWriter(oneUrl);
      await sleep(200);
      const start = now();
      const result = await client.query(oneUpdate);
      const ms = now() - start;
      await sleep(50);
      single = { ms, rows: result.rowCount ?? 0, writer: await writer.stop() };
      await client.end();
      await dropDatabase(server, `${template}_one`);
      log(
        `  one UPDATE: ${single.rows} rows in ${formatMs(ms)}; writer waited up to ${formatMs(single.writer.maxMs)}`,
      );
    }

    // Batched, through the runner; the batched database logs its statements and their durations.
    const batchedUrl = await cloneDatabase(server, template, `${template}_batched`);
    if (server.logOf) {
      await server.admin((c) =>
        c.query(
          `ALTER DATABASE ${template}_batched SET log_statement = 'all';
           ALTER DATABASE ${template}_batched SET log_min_duration_statement = 0`,
        ),
      );
    }
    let batched: {
      ms: number;
      rows: number;
      batches: number[];
      sizes: number[];
      cancelled: number[];
      server: { committed: number[]; cancelled: number[] } | undefined;
      more: boolean;
      writer: WriterReport;
    };
    {
      const pool = createPool({ connectionString: batchedUrl, max: 2 });
      const writer = await startWriter(batchedUrl);
      await sleep(200);
      const batches: number[] = [];
      const sizes: number[] = [];
      const cancelled: number[] = [];
      const start = now();
      const result = await runTask(
        {
          pool,
          onProgress: (progress) => {
            if (progress.cancelled) {
              cancelled.push(progress.batchMs);
              return;
            }
            batches.push(progress.batchMs);
            sizes.push(progress.batchRows);
          },
        },
        { task, trigger: "cli" },
      );
      const ms = now() - start;
      await sleep(50);
      const writerReport = await writer.stop();
      await pool.end();
      await dropDatabase(server, `${template}_batched`);
      const serverSide = server.logOf
        ? serverTransactions(server.logOf("scheduled-jobs"), `${template}_batched`)
        : undefined;
      if (result.status !== "succeeded")
        throw new Error(`the batched archive ended ${result.status}: ${JSON.stringify(result)}`);
      batched = {
        ms,
        rows: result.rowsAffected,
        batches,
        sizes,
        cancelled,
        server: serverSide,
        more: result.more === true,
        writer: writerReport,
      };
      log(
        `  batched: ${batched.rows} rows in ${batches.length} batches (${cancelled.length} more cancelled at their timeout), ${formatMs(ms)}; longest batch ${formatMs(Math.max(...batches, ...cancelled))}; writer waited up to ${formatMs(writerReport.maxMs)}`,
      );
    }

    // A cancelled batch held its row locks until its rollback: it counts as a transaction too.
    const longestRoundTrip = Math.max(...batched.batches, ...batched.cancelled);
    const serverSide = batched.server && batched.server.committed.length > 0 ? batched.server : undefined;
    const longest = serverSide
      ? Math.max(...serverSide.committed, ...serverSide.cancelled)
      : longestRoundTrip;
    const tenth = Math.max(1, Math.floor(batched.batches.length / 10));
    const early = batched.batches.slice(0, tenth);
    const late = batched.batches.slice(-tenth);
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    const batchNote = `${batched.rows} rows (${due} were due when the data was generated; orders keep crossing the 90-day line) in ${batched.batches.length} batches of ${batchSizes(task, batched.sizes)}; batch p50 ${formatMs(percentile(batched.batches, 50))}, p99 ${formatMs(percentile(batched.batches, 99))}; first tenth of batches ${formatMs(mean(early))} on average, last tenth ${formatMs(mean(late))}; ${batched.cancelled.length} batches cancelled at their ${batchTimeoutMs(task.batch!, task.timeoutSeconds * 1000) ?? "(no)"} ms timeout and retried smaller${batched.cancelled.length ? ` (held ${formatMs(Math.min(...batched.cancelled))} to ${formatMs(Math.max(...batched.cancelled))})` : ""}${batched.more ? "; stopped at its time budget with work left" : ""}`;
    return [
      figure({
        section,
        name: `batched through runTask: total (${count(orders)} orders)`,
        value: batched.ms,
        unit: "ms",
        reference: "one UPDATE of the same rows",
        referenceValue: single.ms,
        goal: "≤ 1.5x",
        verdict: batched.ms <= 1.5 * single.ms && batched.rows >= due && !batched.more ? "pass" : "short",
        note: batchNote,
        details: { orders, due, batched, single },
      }),
      figure({
        section,
        name: "longest transaction",
        value: longest,
        unit: "ms",
        reference: "the one UPDATE's transaction",
        referenceValue: single.ms,
        goal: "≤ 250 ms",
        verdict: longest <= 250 ? "pass" : "short",
        note: serverSide
          ? `on the server's clock (its log), committed or cancelled at its timeout: ${serverSide.committed.length} committed (p50 ${formatMs(percentile(serverSide.committed, 50))}, p99 ${formatMs(percentile(serverSide.committed, 99))}, longest ${formatMs(Math.max(...serverSide.committed))}), ${serverSide.cancelled.length} cancelled${serverSide.cancelled.length ? ` (${serverSide.cancelled.map((ms) => formatMs(ms)).join(", ")})` : ""}`
          : "the runner's timing of each batch's round trip, committed or cancelled at its timeout (an upper bound on how long it held its locks; the server's log is read only on the embedded server)",
      }),
      figure({
        section,
        name: "longest batch as the runner timed it (its round trip)",
        value: longestRoundTrip,
        unit: "ms",
        reference: "the longest transaction on the server's clock",
        referenceValue: longest,
        goal: "(the client's side: stalls of a loaded machine that hold no lock)",
        verdict: "info",
      }),
      figure({
        section,
        name: "concurrent writer's longest wait, batched",
        value: batched.writer.maxMs,
        unit: "ms",
        reference: "its longest wait during the one UPDATE",
        referenceValue: single.writer.maxMs,
        goal: "≤ the longest batch (+10 ms)",
        verdict: batched.writer.maxMs <= longest + 10 ? "pass" : "short",
        note: `${batched.writer.writes} writes during the batched run (p50 ${formatMs(batched.writer.p50Ms)}, p99 ${formatMs(batched.writer.p99Ms)}); ${single.writer.writes} during the one UPDATE (p99 ${formatMs(single.writer.p99Ms)})`,
      }),
    ];
  } finally {
    await dropDatabase(server, template);
  }
}
