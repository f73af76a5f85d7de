/** `health`: the /health view; exits 1 when a task needs attention, 3 when the database cannot be reached. */
import type { HealthReport, TaskHealth } from "../../functions/core/reads/health.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { EXIT } from "../lib/exit-codes.js";
import { stackNameOf } from "../lib/jobs.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { iso, printPauses, printPgCronWarning, table } from "./io.js";
import { stackFileOf } from "./job-lookup.js";

/** The next run, or why there is none: a paused task's next run is the first after its pause. */
function nextRunWords(t: TaskHealth): string {
  if (!t.paused) return iso(t.nextRunAt);
  return t.nextRunAt ? `paused, next ${iso(t.nextRunAt)}` : "paused";
}

function printHealth(io: Io, report: HealthReport): void {
  io.out(
    table(
      [
        "task",
        "last status",
        "last run",
        "next run",
        "24 h runs/failures",
        "p50/p95 ms",
        "overdue",
        "last error",
      ],
      report.tasks.map((t) => [
        t.task,
        t.lastStatus ?? "-",
        iso(t.lastRunAt),
        nextRunWords(t),
        `${t.runs24h}/${t.failures24h}`,
        `${t.p50Ms ?? "-"}/${t.p95Ms ?? "-"}`,
        t.overdue ? "OVERDUE" : "no",
        (t.lastError ?? "").slice(0, 60),
      ]),
    ),
  );
  printPauses(io, report.tasks);
  const bad = report.tasks
    .filter((t) => t.overdue || t.lastStatus === "failed")
    .map((t) => `${t.task} (${t.overdue ? "overdue" : "last run failed"})`);
  if (report.pgCronSetup?.disagreements.length) bad.push("pg_cron's setup (it runs another schedule)");
  io.out(
    bad.length === 0
      ? "healthy: no task failed its last run or is overdue"
      : `needs attention: ${bad.join(", ")}`,
  );
}

async function health(io: Io, jobs: readonly Job[], json: boolean): Promise<number> {
  const { readHealth } = await import("../../functions/core/reads/health.js");
  return withPool(io, async (pool) => {
    const file = stackFileOf(io);
    const report: HealthReport = await readHealth(pool, io.now(), jobs, stackNameOf(file));
    if (json) io.out(JSON.stringify(report, null, 2));
    else printHealth(io, report);
    printPgCronWarning(io, report.pgCronSetup, file);
    return report.status === "ok" ? EXIT.ok : EXIT.failed;
  });
}

export const healthCommand: CliCommand = {
  spec: {
    synopsis: "health",
    summary:
      "the /health view; exits 1 when a task failed or is overdue (or the database's pg_cron runs another stack's schedule), 3 when the database cannot be reached",
    maxArgs: 0,
    flags: {},
  },
  run: ({ io, jobs, json }) => health(io, jobs, json),
};
