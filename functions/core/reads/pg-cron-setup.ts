/**
 * Which stack the pg_cron setup loaded into this database was rendered for, and the schedules it
 * gave pg_cron (scheduler.pg_cron_setup, written by the setup script as it loads), and the one
 * comparison of it with the jobs a reader judges the run history by: /health and the dashboard
 * (the stack the function was deployed with), the CLI's `jobs` and `health` (the stack file they
 * read). pg_cron runs what it was set up with, whatever a stack file says, so a database whose
 * pg_cron runs one stack's schedules must never be judged quietly by another's: each reader shows
 * what this finds.
 */
import type { Job } from "../schedule/jobs.js";
import type { Queryable } from "./tick-facts.js";

/** A job the setup gave pg_cron: the task's schedule as the stack resolved it. */
export interface PgCronSetupJob {
  readonly task: string;
  readonly schedule: string;
  readonly timeZone: string;
  readonly paused: boolean;
}

/** The setup loaded last: scheduler.pg_cron_setup's row. */
export interface PgCronSetup {
  /** The stack it was rendered for ("dev"), and its config file; null when not read from one. */
  readonly stack: string | null;
  readonly stackFile: string | null;
  readonly setupFile: string;
  /** Every SQL task, or only those whose runner is pg_cron (the hybrid). */
  readonly scope: "all-sql" | "pg_cron-runner";
  readonly jobs: readonly PgCronSetupJob[];
  readonly loadedAt: Date;
  readonly loadedBy: string;
}

/** The setup as a reader shows it, with every way it disagrees with the jobs read there. */
export interface PgCronSetupCheck {
  readonly stack: string | null;
  readonly stackFile: string | null;
  readonly setupFile: string;
  readonly loadedAt: string;
  readonly loadedBy: string;
  /** One sentence per difference; empty when pg_cron runs what the reader judges by. */
  readonly disagreements: readonly string[];
}

/** PostgreSQL's undefined_table: a database migrated before the record existed. */
const UNDEFINED_TABLE = "42P01";

/** The setup loaded last, or null when none was (or the database predates the record). */
export async function readPgCronSetup(db: Queryable): Promise<PgCronSetup | null> {
  let rows: {
    stack: string | null;
    stack_file: string | null;
    setup_file: string;
    scope: PgCronSetup["scope"];
    jobs: PgCronSetupJob[];
    loaded_at: Date;
    loaded_by: string;
  }[];
  try {
    ({ rows } = await db.query(
      "SELECT stack, stack_file, setup_file, scope, jobs, loaded_at, loaded_by FROM scheduler.pg_cron_setup",
    ));
  } catch (error) {
    if ((error as { code?: string }).code === UNDEFINED_TABLE) return null;
    throw error;
  }
  const row = rows[0];
  if (!row) return null;
  return {
    stack: row.stack,
    stackFile: row.stack_file,
    setupFile: row.setup_file,
    scope: row.scope,
    jobs: row.jobs,
    loadedAt: row.loaded_at,
    loadedBy: row.loaded_by,
  };
}

const where = (job: { schedule: string; timeZone: string }): string => `\`${job.schedule}\` ${job.timeZone}`;

/**
 * How the setup differs from `jobs` (a reader's stack; `stack` its name when the reader knows it):
 * another stack's name; a task pg_cron runs on another schedule, zone or pause than the reader's;
 * a task the reader gives pg_cron that the setup does not schedule; in the hybrid, a task the setup
 * gives pg_cron that the reader gives its cloud's scheduler. A task of the setup the reader does
 * not list is not judged: a reader may read a few tasks (the dead-man reads one).
 */
export function pgCronSetupDisagreements(setup: PgCronSetup, jobs: readonly Job[], stack?: string): string[] {
  const found: string[] = [];
  if (stack !== undefined && setup.stack !== null && setup.stack !== stack)
    found.push(`set up for stack "${setup.stack}", while this reads stack "${stack}"`);
  const byTask = new Map(jobs.map((job) => [job.name, job]));
  for (const given of setup.jobs) {
    const job = byTask.get(given.task);
    if (!job) continue;
    if (given.schedule !== job.schedule || given.timeZone !== job.timeZone)
      found.push(`${given.task}: pg_cron runs it at ${where(given)}, this stack at ${where(job)}`);
    if (given.paused !== job.paused)
      found.push(
        `${given.task}: pg_cron's job is ${given.paused ? "paused" : "active"}, this stack's ${job.paused ? "paused" : "active"}`,
      );
    if (setup.scope === "pg_cron-runner" && job.runner !== "pg_cron")
      found.push(`${given.task}: the setup gives it to pg_cron, this stack to its cloud's scheduler`);
  }
  const scheduled = new Set(setup.jobs.map((given) => given.task));
  for (const job of jobs) {
    if (job.runner === "pg_cron" && !scheduled.has(job.name))
      found.push(`${job.name}: this stack gives it to pg_cron, whose setup does not schedule it`);
  }
  return found;
}

/** The setup and its disagreements with `jobs`, as /health and the CLI show them. */
export function checkPgCronSetup(setup: PgCronSetup, jobs: readonly Job[], stack?: string): PgCronSetupCheck {
  return {
    stack: setup.stack,
    stackFile: setup.stackFile,
    setupFile: setup.setupFile,
    loadedAt: setup.loadedAt.toISOString(),
    loadedBy: setup.loadedBy,
    disagreements: pgCronSetupDisagreements(setup, jobs, stack),
  };
}

/** The warning a reader prints when they disagree; undefined when they agree. */
export function pgCronSetupWarning(check: PgCronSetupCheck, readFrom: string): string | undefined {
  if (check.disagreements.length === 0) return undefined;
  const setFor = check.stack
    ? `stack "${check.stack}" (${check.stackFile})`
    : "jobs not read from a stack file";
  return [
    `WARNING: pg_cron in this database runs the setup rendered for ${setFor} (${check.setupFile}, loaded ${check.loadedAt} by ${check.loadedBy}), which disagrees with ${readFrom}:`,
    ...check.disagreements.map((line) => `  - ${line}`),
    `Overdue and next runs here are judged by ${readFrom}, not by what pg_cron runs. Load the setup rendered for this stack (docs/pg-cron.md), or read the stack the database was set up for.`,
  ].join("\n");
}
