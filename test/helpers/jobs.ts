/**
 * Catalog-shaped tasks (a test's variations of the catalog) as the jobs a stack schedules, through
 * the one rule (`resolveJobs`), for code that takes resolved jobs (the pg_cron renderer, health).
 */
import type { TaskDefinition } from "../../functions/core/catalog.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";

export function jobsOf(tasks: readonly TaskDefinition[]): Job[] {
  return [...resolveJobs(tasks).jobs];
}

export function jobOf(task: TaskDefinition): Job {
  return jobsOf([task])[0]!;
}

/** A pg_cron job's command run as if pg_cron had started it at `at` (the routines' `p_at`). */
export function commandAt(command: string, at: Date): string {
  const end = command.lastIndexOf("\n);");
  if (end < 0) throw new Error("not a pg_cron job command");
  return `${command.slice(0, end)},\n  p_at => '${at.toISOString()}'${command.slice(end)}`;
}
