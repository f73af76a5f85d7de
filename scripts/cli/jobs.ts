/** `jobs`: every job of the stack, its schedule, runner and next runs, and its last status. */
import { nextFireTimes } from "../../functions/core/schedule/fire-times.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { EXIT } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { iso, table } from "./io.js";

type LastStatus = Map<string, { status: string | null; at: string | null }>;

/** Each task's last status, or why it cannot be read (the schedule is listed all the same). */
async function lastStatuses(io: Io): Promise<{ lastStatus: LastStatus; note?: string }> {
  try {
    const lastStatus = await withPool(io, async (pool) => {
      const result = await pool.query<{ task: string; last_status: string | null; last_run_at: Date | null }>(
        "SELECT task, last_status, last_run_at FROM scheduler.job_health",
      );
      return new Map(
        result.rows.map((r) => [r.task, { status: r.last_status, at: r.last_run_at?.toISOString() ?? null }]),
      );
    });
    return { lastStatus };
  } catch (error) {
    // The schedule is the catalog's: list it even when the history cannot be read.
    return { lastStatus: new Map(), note: `last status unknown: ${(error as Error).message}` };
  }
}

async function listJobs(io: Io, jobs: readonly Job[], json: boolean): Promise<number> {
  const now = io.now();
  const { lastStatus, note } = await lastStatuses(io);
  const rows = jobs.map((job) => ({
    task: job.name,
    schedule: job.schedule,
    timeZone: job.timeZone,
    runner: job.runner,
    paused: job.paused,
    next: job.paused ? [] : nextFireTimes(job, now, 3).map((d) => d.toISOString()),
    lastStatus: lastStatus.get(job.name)?.status ?? null,
    lastRunAt: lastStatus.get(job.name)?.at ?? null,
  }));
  if (json) io.out(JSON.stringify({ jobs: rows, ...(note ? { note } : {}) }, null, 2));
  else {
    io.out(
      table(
        ["task", "schedule", "time zone", "runner", "paused", "next runs", "last status"],
        rows.map((r) => [
          r.task,
          r.schedule,
          r.timeZone,
          r.runner,
          r.paused ? "yes" : "no",
          r.paused ? "-" : r.next.map((d) => iso(d).slice(5, 16).replace("T", " ")).join(", "),
          r.lastStatus ? `${r.lastStatus} (${iso(r.lastRunAt)})` : "-",
        ]),
      ),
    );
    if (note) io.err(`note: ${note}`);
  }
  return EXIT.ok;
}

export const jobsCommand: CliCommand = {
  spec: {
    synopsis: "jobs",
    summary: "every job: schedule, time zone, runner, paused, next three runs, last status",
    maxArgs: 0,
    flags: {},
  },
  run: ({ io, jobs, json }) => listJobs(io, jobs, json),
};
