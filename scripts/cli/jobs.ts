/** `jobs`: every job of the stack, its schedule, runner and next runs, and its last status. */
import { fireTimesToRun } from "../../functions/core/reads/health.js";
import type { PgCronSetupCheck } from "../../functions/core/reads/pg-cron-setup.js";
import { checkPgCronSetup, readPgCronSetup } from "../../functions/core/reads/pg-cron-setup.js";
import type { PauseJson } from "../../functions/core/reads/tick-facts.js";
import { pauseJson, readPauses } from "../../functions/core/reads/tick-facts.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { RunTimePause } from "../../functions/core/schedule/tick-rules.js";
import { isPausedAt } from "../../functions/core/schedule/tick-rules.js";
import { EXIT } from "../lib/exit-codes.js";
import { stackNameOf } from "../lib/jobs.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { iso, printPauses, printPgCronWarning, table } from "./io.js";
import { stackFileOf } from "./job-lookup.js";

type LastStatus = Map<string, { status: string | null; at: string | null }>;

/** What the database says of each task: its last status and its run-time pause. */
interface Recorded {
  readonly lastStatus: LastStatus;
  readonly pauses: Map<string, RunTimePause>;
  /** The pg_cron setup loaded into the database, checked against the stack read here. */
  readonly pgCronSetup: PgCronSetupCheck | null;
  /** Why the database could not be read, when it could not. */
  readonly note?: string;
}

/** Each task's last status and pause, or why they cannot be read (the schedule is listed all the same). */
async function recorded(io: Io, jobs: readonly Job[], file: string): Promise<Recorded> {
  try {
    return await withPool(io, async (pool) => {
      const result = await pool.query<{ task: string; last_status: string | null; last_run_at: Date | null }>(
        "SELECT task, last_status, last_run_at FROM scheduler.job_health",
      );
      const lastStatus: LastStatus = new Map(
        result.rows.map((r) => [r.task, { status: r.last_status, at: r.last_run_at?.toISOString() ?? null }]),
      );
      const pauses = await readPauses(
        pool,
        jobs.map((job) => job.name),
      );
      const setup = await readPgCronSetup(pool);
      const pgCronSetup = setup ? checkPgCronSetup(setup, jobs, stackNameOf(file)) : null;
      return { lastStatus, pauses, pgCronSetup };
    });
  } catch (error) {
    // The schedule is the stack's: list it even when the history cannot be read.
    return {
      lastStatus: new Map(),
      pauses: new Map(),
      pgCronSetup: null,
      note: `last status unknown, run-time pauses too: ${(error as Error).message}`,
    };
  }
}

/** Where a task is paused, as the table's column says it. */
const pausedIn = (job: Job, pause: PauseJson | null): string =>
  job.paused ? "config" : pause ? "run time" : "no";

async function listJobs(io: Io, jobs: readonly Job[], json: boolean): Promise<number> {
  const now = io.now();
  const file = stackFileOf(io);
  const { lastStatus, pauses, pgCronSetup, note } = await recorded(io, jobs, file);
  const rows = jobs.map((job) => {
    const last = pauses.get(job.name);
    const pause = last && isPausedAt(last, now) ? pauseJson(last) : null;
    return {
      task: job.name,
      schedule: job.schedule,
      timeZone: job.timeZone,
      runner: job.runner,
      paused: job.paused || pause !== null,
      pause,
      next: fireTimesToRun(job, last, now, 3).map((d) => d.toISOString()),
      lastStatus: lastStatus.get(job.name)?.status ?? null,
      lastRunAt: lastStatus.get(job.name)?.at ?? null,
    };
  });
  printPgCronWarning(io, pgCronSetup, file);
  if (json) io.out(JSON.stringify({ jobs: rows, pgCronSetup, ...(note ? { note } : {}) }, null, 2));
  else {
    io.out(
      table(
        ["task", "schedule", "time zone", "runner", "paused", "next runs", "last status"],
        rows.map((r, i) => [
          r.task,
          r.schedule,
          r.timeZone,
          r.runner,
          pausedIn(jobs[i]!, r.pause),
          r.next.length === 0 ? "-" : r.next.map((d) => iso(d).slice(5, 16).replace("T", " ")).join(", "),
          r.lastStatus ? `${r.lastStatus} (${iso(r.lastRunAt)})` : "-",
        ]),
      ),
    );
    printPauses(io, rows);
    if (note) io.err(`note: ${note}`);
  }
  return EXIT.ok;
}

export const jobsCommand: CliCommand = {
  spec: {
    synopsis: "jobs",
    summary:
      "every job: schedule, time zone, runner, paused (config or run time), next three runs, last status",
    maxArgs: 0,
    flags: {},
  },
  run: ({ io, jobs, json }) => listJobs(io, jobs, json),
};
