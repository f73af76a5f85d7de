/**
 * `plan`: a stack's schedule as a whole, before it ships. From the stack file and the one
 * `resolveJobs`: the calendar (fire times, DST), the warnings (each with its cause and fix), the
 * cost; with a database, also what is deployed there now (drift) and what each task would do if
 * it fired now (impact). Every rule is asked where it lives; this module only puts them together.
 */
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import type { Pool } from "../../functions/core/db/pool.js";
import { checkout } from "../../functions/core/db/pool.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { CalendarEntry, PlanWindow } from "./calendar.js";
import { calendarEntry } from "./calendar.js";
import type { CostReport } from "./cost.js";
import { planCost } from "./cost.js";
import type { DriftReport } from "./drift.js";
import { readDrift } from "./drift.js";
import type { RunnerName } from "./dst.js";
import type { TaskImpact } from "./impact.js";
import { readImpact } from "./impact.js";
import type { Cloud, PlanStack } from "./stack.js";
import { readPlanStack } from "./stack.js";
import type { Warning } from "./warnings.js";
import { planWarnings } from "./warnings.js";

interface PlanOptions {
  readonly stackFile: string;
  readonly from: Date;
  readonly days: number;
  /** The clock of drift and impact ("if it fired now"). */
  readonly now: Date;
  /** Skip the dry runs that write (and roll back): the database is then only read. */
  readonly readOnly: boolean;
  readonly catalog?: readonly TaskDefinition[];
  /** The database of drift and impact, and how to name it; none: those sections are left out. */
  readonly database?: { readonly pool: Pool; readonly where: string };
}

export interface PlanReport {
  readonly stack: { readonly file: string; readonly cloud: Cloud; readonly scheduler: RunnerName };
  readonly window: { readonly from: string; readonly to: string; readonly days: number };
  /** The database drift and impact read, or null without one. */
  readonly database: string | null;
  readonly warnings: readonly Warning[];
  readonly calendar: readonly CalendarEntry[];
  readonly cost: CostReport;
  readonly drift?: DriftReport | { readonly error: string };
  readonly impact?: readonly TaskImpact[] | { readonly error: string };
}

const schedulerOf = (cloud: Cloud): RunnerName =>
  cloud === "aws" ? "EventBridge Scheduler" : "Cloud Scheduler";

/** Who fires each job: the stack's scheduler or pg_cron, and both when the database's pg_cron runs a cloud task. */
function runnersOf(stack: PlanStack, drift: PlanReport["drift"]): Map<string, RunnerName[]> {
  const inPgCron = drift && "pgCron" in drift && drift.pgCron.installed ? drift.pgCron.runs : [];
  return new Map(
    stack.jobs.map((job) => {
      if (job.runner === "pg_cron") return [job.name, ["pg_cron"]];
      const cloud = schedulerOf(stack.cloud);
      return [job.name, inPgCron.includes(job.name) ? [cloud, "pg_cron"] : [cloud]];
    }),
  );
}

async function readDatabase(
  options: PlanOptions,
  jobs: readonly Job[],
): Promise<Pick<PlanReport, "drift" | "impact">> {
  const { pool } = options.database!;
  let drift: PlanReport["drift"];
  const reads = await checkout(pool);
  try {
    await reads.client.query("SET default_transaction_read_only = on");
    drift = await readDrift(reads.client, jobs, options.now);
  } catch (error) {
    drift = { error: (error as Error).message };
  } finally {
    reads.release(true);
  }
  let impact: PlanReport["impact"];
  try {
    impact = await readImpact(pool, jobs, options.now, options.readOnly);
  } catch (error) {
    impact = { error: (error as Error).message };
  }
  return { drift, impact };
}

export async function buildPlan(options: PlanOptions): Promise<PlanReport> {
  const stack = await readPlanStack(options.stackFile, options.catalog);
  const from = options.from;
  const to = new Date(from.getTime() + options.days * 86_400_000);
  const window: PlanWindow = { from, to, days: options.days };
  const database = options.database ? await readDatabase(options, stack.jobs) : {};
  const runners = runnersOf(stack, database.drift);
  const pauses = database.drift && "tasks" in database.drift ? database.drift.tasks : undefined;
  const calendar = stack.jobs.map((job) => {
    const entry = calendarEntry(job, runners.get(job.name)!, window, options.catalog ?? tasks);
    const state = pauses?.find((task) => task.task === job.name);
    return pauses ? { ...entry, runTimePause: state?.runTimePause ?? null } : entry;
  });
  const { runBoundSeconds } = await import("../../infra/aws/config.js");
  const warnings = [
    ...planWarnings({
      cloud: stack.cloud,
      jobs: stack.jobs,
      runners,
      refusals: stack.refusals,
      window,
      runBoundSeconds,
    }),
    ...databaseWarnings(stack.jobs, database),
  ];
  return {
    stack: { file: stack.file, cloud: stack.cloud, scheduler: schedulerOf(stack.cloud) },
    window: { from: from.toISOString(), to: to.toISOString(), days: options.days },
    database: options.database?.where ?? null,
    warnings,
    calendar,
    cost: planCost(stack.cloud, stack.jobs, runners, from, stack.functionSize),
    ...database,
  };
}

/** What the database says that a reviewer must see first: pg_cron drift, a guard that would trip. */
function databaseWarnings(
  jobs: readonly Job[],
  { drift, impact }: Pick<PlanReport, "drift" | "impact">,
): Warning[] {
  const warnings: Warning[] = [];
  const pgCronTasks = jobs.filter((job) => job.runner === "pg_cron").map((job) => job.name);
  if (drift && "pgCron" in drift) {
    const { pgCron } = drift;
    if (!pgCron.installed && pgCronTasks.length > 0)
      warnings.push({
        kind: "drift",
        tasks: pgCronTasks,
        cause: `the stack gives ${pgCronTasks.join(", ")} to pg_cron, and the database has no pg_cron extension: nothing runs them`,
        fix: `install pg_cron and load sql/pg_cron_setup_hybrid.sql (docs/pg-cron.md), or give them back to the cloud's scheduler`,
      });
    if (pgCron.installed && pgCron.add.length + pgCron.change.length + pgCron.remove.length > 0)
      warnings.push({
        kind: "drift",
        tasks: [...pgCron.add, ...pgCron.change.map((c) => c.job), ...pgCron.remove],
        cause:
          `pg_cron's jobs are not what ${pgCron.setupFile} schedules for this stack:${pgCron.add.length ? ` to add ${pgCron.add.join(", ")};` : ""}${pgCron.change.length ? ` to change ${pgCron.change.map((c) => `${c.job} (${c.fields.join(", ")})`).join(", ")};` : ""}${pgCron.remove.length ? ` to remove ${pgCron.remove.join(", ")};` : ""}`.replace(
            /;$/,
            "",
          ),
        fix: `load the setup for this stack: \`npm run pg-cron:generate\` writes it, psql -f loads it (docs/pg-cron.md)`,
      });
  }
  if (impact && !("error" in impact)) {
    for (const task of impact) {
      if (task.guard?.trips)
        warnings.push({
          kind: "guard",
          tasks: [task.task],
          cause: `${task.task} would change ${task.rows} rows now, more than its guard of ${task.guard.limit}: its next run changes nothing and fails (422)`,
          fix: `look at why so many rows are due; when they are right, run it once forced (\`npm run cli -- run ${task.task} --force\`)`,
        });
      if (task.problem)
        warnings.push({
          kind: "impact",
          tasks: [task.task],
          cause: `${task.task} could not be dry-run now: ${task.problem}`,
          fix: `run it by hand with --dry-run to see why (\`npm run cli -- run ${task.task} --dry-run\`)`,
        });
    }
  }
  return warnings;
}
