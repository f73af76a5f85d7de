/**
 * The operator CLI (`scheduled-jobs`, `npm run cli --`): the jobs, their history and health, a run
 * now, and the ticks to backfill, against DATABASE_URL or the local stack that `npm start` runs.
 * `npm run task -- <task>` is this CLI's `run <task> --direct --json`.
 *
 * Exit codes: scripts/lib/exit-codes.ts, the table shared with `npm run migrate`.
 */
import { userInfo } from "node:os";
import type { TaskDefinition } from "../functions/core/catalog.js";
import { taskNames } from "../functions/core/catalog.js";
import type { PostAnswer, RunAnswer, TaskBody } from "../functions/gcp/contract.js";
import { isErrorAnswer, routes } from "../functions/gcp/contract.js";
import type { Pool } from "../functions/core/db/pool.js";
import { createPool } from "../functions/core/db/pool.js";
import { classifyDatabaseError, ScheduledTaskError } from "../functions/core/errors.js";
import type { HealthReport } from "../functions/core/reads/health.js";
import type { RunnerDeps } from "../functions/core/run/runner.js";
import type { RunRecord } from "../functions/core/reads/history.js";
import type { Job } from "../functions/core/schedule/jobs.js";
import {
  fireTimesBetween,
  isFireTime,
  nextFireTime,
  nextFireTimes,
} from "../functions/core/schedule/fire-times.js";
import type { Options } from "./lib/args.js";
import { didYouMean, errorOutput, parseCommandLine, UsageError, wantsJson } from "./lib/args.js";
import { connectionProblem, malformedUrl } from "./lib/connection-problem.js";
import type { ExitName } from "./lib/exit-codes.js";
import { EXIT, exitCodeLines } from "./lib/exit-codes.js";
import type { BackfillPlan } from "./lib/backfill.js";
import { DEFAULT_TICK_LIMIT, MAX_TICK_LIMIT } from "./lib/backfill.js";
import { defaultStackFile, stackJobs } from "./lib/jobs.js";
import type { LocalState } from "./local/local-state.js";
import { readLocalState } from "./local/local-state.js";

export interface Io {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly now: () => Date;
  /** Where `.data/` is (the local stack's state). */
  readonly root: string;
  /** The task catalog; functions/core/catalog.ts when absent (tests give one with a pg_cron task). */
  readonly catalog?: readonly TaskDefinition[];
}

const defaultIo: Io = {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  now: () => new Date(),
  root: process.cwd(),
};

export { EXIT };

/** How the printed commands start: what runs from the project's directory as printed. */
const CLI = "npm run cli --";

class CliError extends Error {
  constructor(
    readonly exit: ExitName,
    message: string,
  ) {
    super(message);
  }
}

const options = {
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  "dry-run": { type: "boolean", default: false },
  force: { type: "boolean", default: false },
  direct: { type: "boolean", default: false },
  slot: { type: "string" },
  since: { type: "string" },
  failed: { type: "boolean", default: false },
  limit: { type: "string" },
  "no-schedule-time": { type: "boolean", default: false },
  task: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  address: { type: "string" },
  reason: { type: "string" },
  until: { type: "string" },
  once: { type: "boolean", default: false },
} as const satisfies Options;

type Flag = keyof typeof options;

interface CommandSpec {
  readonly synopsis: string;
  readonly summary: string;
  readonly maxArgs: number;
  readonly flags: readonly Flag[];
}

const commands = {
  jobs: {
    synopsis: "jobs",
    summary: "every job: schedule, time zone, runner, paused, next three runs, last status",
    maxArgs: 0,
    flags: [],
  },
  run: {
    synopsis: "run <task> [--dry-run] [--force] [--slot <time>] [--direct]",
    summary: `run a task now: through the local function when it is up, else directly;
--slot runs the tick of that schedule time (backfill), never twice.
npm run task -- <task> [--dry-run] [--force] is run <task> --direct --json`,
    maxArgs: 1,
    flags: ["dry-run", "force", "slot", "direct"],
  },
  "force-run": {
    synopsis: "force-run <task> [--no-schedule-time]",
    summary: `what the Cloud Scheduler console's "Force run" sends to the local function:
the next tick's time in X-CloudScheduler-ScheduleTime (or none); it runs as
a manual run and the real tick still runs`,
    maxArgs: 1,
    flags: ["no-schedule-time"],
  },
  missed: {
    synopsis: "missed [--since <time>]",
    summary: `schedule times with no successful run since then (default: 24 h ago),
counted from when the run history begins at the earliest`,
    maxArgs: 0,
    flags: ["since"],
  },
  backfill: {
    synopsis: "backfill <task> --since <time> [--until <time>] [--once] [--limit N] [--dry-run] [--direct]",
    summary: `run each tick of the task's schedule in [--since, --until (default now)] that
has no success, oldest first, each with its tick as input and slot (as run
--slot does: a rerun is harmless); stops at the first that does not
succeed and prints the command that resumes there. --once: one run, for
the latest tick, stands for the gap (tasks that do not read their tick).
More than ${DEFAULT_TICK_LIMIT} ticks need --limit N. --dry-run lists the ticks, runs nothing`,
    maxArgs: 1,
    flags: ["since", "until", "once", "limit", "dry-run", "direct"],
  },
  replay: {
    synopsis:
      "replay --failed --since <time> [--until <time>] [--task <task>] [--limit N] [--dry-run] [--direct]",
    summary: `run again, in tick order, each failed tick (a failed run with a schedule time
in the range) that no run has repaired since, with that tick as input and
slot; stops at the first that does not succeed and prints the command that
resumes there. Failed manual runs stand for no tick: listed, not replayed`,
    maxArgs: 0,
    flags: ["failed", "since", "until", "task", "limit", "dry-run", "direct"],
  },
  history: {
    synopsis: "history [task] [--failed] [--limit N]",
    summary: "recent runs, newest first (default 20)",
    maxArgs: 1,
    flags: ["failed", "limit"],
  },
  health: {
    synopsis: "health",
    summary:
      "the /health view; exits 1 when a task failed or is overdue, 3 when the database cannot be reached",
    maxArgs: 0,
    flags: [],
  },
  requeue: {
    synopsis: "requeue --task <task> [--from <time>] [--to <time>] [--address <email>] [--dry-run]",
    summary: `queue again the emails that died (no run retries them): those queued in
[--from, --to), to that address; the next run sends them`,
    maxArgs: 0,
    flags: ["task", "from", "to", "address", "dry-run"],
  },
  pause: {
    synopsis: 'pause <task> --reason "..." [--until <time>]',
    summary: `stop the task's runs now, without a deploy: every tick (and run) is recorded
paused with the reason and does nothing, until --until or \`resume\`;
/health shows it paused, not overdue. Records who paused it and when`,
    maxArgs: 1,
    flags: ["reason", "until"],
  },
  resume: {
    synopsis: "resume <task>",
    summary: "end the task's run-time pause: its next tick runs (and a missed one is overdue again)",
    maxArgs: 1,
    flags: [],
  },
  token: {
    synopsis: "token",
    summary: "a development ID token for the local function (npm start must be running)",
    maxArgs: 0,
    flags: [],
  },
  env: {
    synopsis: "env",
    summary: `the embedded database's DATABASE_URL as a shell line, for npm run task and
npm run migrate: eval "$(npm run -s cli -- env)" (npm start must be running)`,
    maxArgs: 0,
    flags: [],
  },
} as const satisfies Record<string, CommandSpec>;

type Command = keyof typeof commands;

/** Every command's name, in the order `--help` lists them. */
export const commandNames = Object.keys(commands) as Command[];

const indent = (text: string, by: number): string => text.replaceAll("\n", `\n${" ".repeat(by)}`);

const footer = `Options: --json (machine-readable output; errors too, as JSON on stderr), --help
Database: DATABASE_URL, else the local stack that npm start runs (.data/postgres).
Times: ISO 8601 (2026-11-29T04:15:00Z) or, for --since (and a backfill's or replay's --until),
a duration ago (90m, 6h, 2d).
Exit codes:
${exitCodeLines()}`;

const usage = `Usage: scheduled-jobs <command> [options]   (${CLI} <command> [options])

Commands:
${Object.values(commands)
  .map((spec: CommandSpec) =>
    spec.synopsis.length < 34
      ? `  ${spec.synopsis.padEnd(34)}${indent(spec.summary, 36)}`
      : `  ${spec.synopsis}\n${" ".repeat(36)}${indent(spec.summary, 36)}`,
  )
  .join("\n")}

${footer}`;

function commandUsage(command: Command): string {
  const spec: CommandSpec = commands[command];
  return `Usage: ${CLI} ${spec.synopsis} [--json]\n\n  ${indent(spec.summary, 2)}\n\n${footer}`;
}

export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const json = wantsJson(argv);
  const fail = (exit: ExitName, message: string): number => {
    io.err(errorOutput(json, "scheduled-jobs", exit, EXIT[exit], message));
    return EXIT[exit];
  };
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (error instanceof CliError) return fail(error.exit, error.message);
    if (error instanceof UsageError) return fail("usage", error.message);
    if (error instanceof ScheduledTaskError && error.code === "unavailable")
      return fail("unreachable", error.message);
    return fail("error", (error as Error).message);
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const positional = argv.find((arg) => !arg.startsWith("-"));
  const known =
    positional !== undefined && Object.hasOwn(commands, positional) ? (positional as Command) : undefined;
  let parsed;
  try {
    parsed = parseCommandLine(argv, options);
  } catch (error) {
    if (error instanceof UsageError) {
      const help = `run \`${CLI} ${known ?? ""}${known ? " " : ""}--help\` for the usage`;
      throw new CliError("usage", `${known ? `${known}: ` : ""}${error.message}; ${help}`);
    }
    throw error;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === "help") {
    const about = command === "help" ? rest[0] : command;
    io.out(about !== undefined && Object.hasOwn(commands, about) ? commandUsage(about as Command) : usage);
    return EXIT.ok;
  }
  if (!command) throw new CliError("usage", `a command is required\n\n${usage}`);
  if (!Object.hasOwn(commands, command)) {
    throw new CliError(
      "usage",
      `unknown command "${command}"${didYouMean(command, Object.keys(commands))}\n\n${usage}`,
    );
  }
  const spec: CommandSpec = commands[command as Command];
  if (rest.length > spec.maxArgs)
    throw new CliError("usage", `${command}: unexpected argument "${rest[spec.maxArgs]}"`);
  for (const [flag, value] of Object.entries(values)) {
    if (["json", "help"].includes(flag) || value === undefined || value === false) continue;
    if (!spec.flags.includes(flag as Flag)) {
      const hint =
        spec.flags.length === 0 ? "it takes no options but --json" : `it takes --${spec.flags.join(", --")}`;
      throw new CliError("usage", `${command} does not take --${flag}: ${hint}`);
    }
  }
  const json = values.json === true;
  const text = (flag: Flag): string | undefined => {
    const value = values[flag];
    return typeof value === "string" ? value : undefined;
  };
  const jobs = loadJobs(io);
  switch (command as Command) {
    case "jobs":
      return jobsCommand(io, jobs, json);
    case "run": {
      if (!rest[0]) throw new CliError("usage", `run: which task? Known tasks: ${taskNames.join(", ")}`);
      const job = jobOf(jobs, rest[0]);
      const slotText = text("slot");
      const slot = slotText === undefined ? undefined : parseTime(slotText, "--slot", io, false);
      if (slot) checkSlot(job, slot);
      return runCommand(io, job, {
        dryRun: values["dry-run"] === true,
        force: values.force === true,
        slot,
        direct: values.direct === true,
        json,
      });
    }
    case "force-run": {
      if (!rest[0])
        throw new CliError("usage", `force-run: which task? Known tasks: ${taskNames.join(", ")}`);
      return forceRunCommand(io, cloudJobOf(jobs, rest[0]), values["no-schedule-time"] === true, json);
    }
    case "missed": {
      const sinceText = text("since");
      const since =
        sinceText === undefined
          ? new Date(io.now().getTime() - 86_400_000)
          : parseTime(sinceText, "--since", io, true);
      return missedCommand(io, jobs, since, json);
    }
    case "backfill": {
      if (!rest[0]) throw new CliError("usage", `backfill: which task? Known tasks: ${taskNames.join(", ")}`);
      const job = jobOf(jobs, rest[0]);
      const { since, until } = timeRange(io, text("since"), text("until"), "backfill");
      return backfillCommand(io, job, {
        since,
        until,
        once: values.once === true,
        limit: tickLimit(text("limit")),
        dryRun: values["dry-run"] === true,
        direct: values.direct === true,
        json,
      });
    }
    case "replay": {
      if (values.failed !== true)
        throw new CliError("usage", "replay: --failed is required (failed ticks are what it replays)");
      const task = text("task");
      if (task !== undefined) jobOf(jobs, task);
      const { since, until } = timeRange(io, text("since"), text("until"), "replay");
      return replayCommand(io, jobs, {
        since,
        until,
        task,
        limit: tickLimit(text("limit")),
        dryRun: values["dry-run"] === true,
        direct: values.direct === true,
        json,
      });
    }
    case "history": {
      if (rest[0]) jobOf(jobs, rest[0]);
      let limit = 20;
      const limitText = text("limit");
      if (limitText !== undefined) {
        limit = Number(limitText);
        if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000)
          throw new CliError("usage", "--limit must be an integer from 1 to 1000");
      }
      return historyCommand(io, { task: rest[0], failedOnly: values.failed === true, limit }, json);
    }
    case "health":
      return healthCommand(io, jobs, json);
    case "requeue":
      return requeueCommand(io, {
        task: text("task"),
        from: text("from"),
        to: text("to"),
        address: text("address"),
        dryRun: values["dry-run"] === true,
        json,
      });
    case "pause": {
      if (!rest[0]) throw new CliError("usage", `pause: which task? Known tasks: ${taskNames.join(", ")}`);
      const job = jobOf(jobs, rest[0]);
      const reason = text("reason")?.trim();
      if (!reason)
        throw new CliError("usage", 'pause: --reason "..." is required (it is shown wherever the pause is)');
      const untilText = text("until");
      const until = untilText === undefined ? undefined : parseTime(untilText, "--until", io, false);
      if (until && until.getTime() <= io.now().getTime())
        throw new CliError("usage", `--until ${iso(until)} is not in the future`);
      return pauseCommand(io, job, reason, until, json);
    }
    case "resume": {
      if (!rest[0]) throw new CliError("usage", `resume: which task? Known tasks: ${taskNames.join(", ")}`);
      return resumeCommand(io, jobOf(jobs, rest[0]), json);
    }
    case "token":
      return tokenCommand(io, json);
    case "env":
      return envCommand(io, json);
  }
}

// --- where things are ------------------------------------------------------------------------

/** Every task as the stack schedules it (`resolveJobs` over the stack's config file). */
function loadJobs(io: Io): readonly Job[] {
  const file = io.env.PULUMI_STACK_FILE ?? defaultStackFile(io.env.PULUMI_STACK ?? "dev");
  let resolved;
  try {
    resolved = stackJobs(file, io.catalog);
  } catch (error) {
    throw new CliError("usage", (error as Error).message);
  }
  if (resolved.problems.length > 0) throw new CliError("usage", resolved.problems.join("\n"));
  return resolved.jobs;
}

/** The stack's job of that name, whichever runner runs it (Cloud Scheduler or pg_cron). */
function jobOf(allJobs: readonly Job[], name: string): Job {
  const job = allJobs.find((j) => j.name === name);
  if (!job)
    throw new CliError(
      "usage",
      `unknown task "${name}". Known tasks: ${allJobs.map((j) => j.name).join(", ")}`,
    );
  return job;
}

/** A job Cloud Scheduler runs: what a console force run exists for. */
function cloudJobOf(allJobs: readonly Job[], name: string): Job {
  const job = jobOf(allJobs, name);
  if (job.runner !== "cloud")
    throw new CliError(
      "usage",
      `task "${name}" runs in the database (pg_cron), not through Cloud Scheduler: there is no force run to send; \`run ${name}\` runs it now`,
    );
  return job;
}

/**
 * Whether a run of this job may go through the local function: a pg_cron task's runs are the
 * database's, so the CLI runs them directly (the same runner and records, trigger `cli`).
 */
function throughFunctionFor(job: Job): boolean {
  return job.runner === "cloud";
}

interface Target {
  readonly databaseUrl: string;
  readonly local: LocalState | undefined;
  readonly where: string;
}

function target(io: Io): Target {
  const local = readLocalState(io.root);
  const url = io.env.DATABASE_URL;
  if (url)
    return {
      databaseUrl: url,
      local: local && local.databaseUrl === url ? local : undefined,
      where: describeUrl(url),
    };
  if (local)
    return {
      databaseUrl: local.databaseUrl,
      local,
      where: `the local stack (${describeUrl(local.databaseUrl)})`,
    };
  throw new CliError(
    "unreachable",
    "no database: DATABASE_URL is not set and the local stack is not running (the embedded database in .data/postgres runs only while `npm start` does). Start it with `npm start`, or set DATABASE_URL.",
  );
}

function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return "DATABASE_URL (malformed)";
  }
}

async function withPool<T>(io: Io, work: (pool: Pool, where: string) => Promise<T>): Promise<T> {
  const { databaseUrl, where } = target(io);
  const malformed = malformedUrl(databaseUrl);
  if (malformed) throw new CliError("unreachable", malformed);
  const unreachable = (error: unknown): CliError | undefined => {
    const cause = error instanceof ScheduledTaskError ? error.cause : error;
    const problem = connectionProblem(cause, databaseUrl);
    if (problem) return new CliError("unreachable", `the database at ${where} is unreachable: ${problem}`);
    const unavailable =
      error instanceof ScheduledTaskError
        ? error.code === "unavailable"
        : classifyDatabaseError(error) === "unavailable";
    if (!unavailable) return undefined;
    const reason = cause instanceof Error && cause.message ? `: ${cause.message}` : "";
    return new CliError("unreachable", `the database at ${where} is unreachable${reason}`);
  };
  const pool = createPool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 5000 });
  try {
    // One connection first: whatever the command, a database it cannot use is named for its cause
    // (a task's runner, say, would report a wrong password as the task's own failure).
    await pool.query("SELECT 1").catch((error: unknown) => {
      throw unreachable(error) ?? error;
    });
    return await work(pool, where);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw unreachable(error) ?? error;
  } finally {
    await pool.end().catch(() => undefined);
  }
}

// --- time ------------------------------------------------------------------------------------

function parseTime(text: string, flag: string, io: Io, allowDuration: boolean): Date {
  const duration = /^(\d+)\s*(m|min|h|d)$/i.exec(text);
  if (duration && allowDuration) {
    const unit = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2]!.toLowerCase() as "m"];
    return new Date(io.now().getTime() - Number(duration[1]) * unit);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new CliError(
    "usage",
    `${flag} "${text}" is not a time: use ISO 8601 (2026-11-29T04:15:00Z)${allowDuration ? " or a duration ago (90m, 6h, 2d)" : ""}`,
  );
}

function checkSlot(job: Job, slot: Date): void {
  if (!isFireTime(job, slot)) {
    throw new CliError(
      "usage",
      `--slot ${iso(slot)} is not a schedule time of ${job.name} (${job.schedule} in ${job.timeZone}); the next one after it is ${iso(nextFireTime(job, slot))}`,
    );
  }
}

const iso = (date: Date | string | null | undefined): string =>
  date ? new Date(date).toISOString().replace(/\.\d{3}Z$/, "Z") : "-";

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

// --- jobs ------------------------------------------------------------------------------------

async function jobsCommand(io: Io, jobs: readonly Job[], json: boolean): Promise<number> {
  const now = io.now();
  let lastStatus = new Map<string, { status: string | null; at: string | null }>();
  let note: string | undefined;
  try {
    lastStatus = await withPool(io, async (pool) => {
      const result = await pool.query<{ task: string; last_status: string | null; last_run_at: Date | null }>(
        "SELECT task, last_status, last_run_at FROM scheduler.job_health",
      );
      return new Map(
        result.rows.map((r) => [r.task, { status: r.last_status, at: r.last_run_at?.toISOString() ?? null }]),
      );
    });
  } catch (error) {
    // The schedule is the catalog's: list it even when the history cannot be read.
    note = `last status unknown: ${(error as Error).message}`;
  }
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

// --- run -------------------------------------------------------------------------------------

interface RunOptions {
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly slot: Date | undefined;
  readonly direct: boolean;
  readonly json: boolean;
  /** Send what a console force run sends: the job's name and the next tick's time (or `undefined`: none). */
  readonly forceRun?: { readonly scheduleTime: Date | undefined };
}

async function runCommand(io: Io, job: Job, options: RunOptions): Promise<number> {
  const where = target(io);
  let outcome: RunOutcome | undefined;
  if (where.local && !options.direct && throughFunctionFor(job)) {
    outcome = await runThroughFunction(io, where.local, job, options);
    if (outcome === undefined)
      io.err(`note: the local function at ${where.local.functionUrl} did not answer; running directly`);
  }
  outcome ??= await withPool(io, async (pool, at) => {
    if (!options.json) io.err(`running ${job.name} directly against ${at}`);
    return (await directRunner(io, pool))(job, options);
  });
  io.out(options.json ? JSON.stringify(outcome.json, null, 2) : outcome.line);
  return outcome.exit;
}

/** How one run ended, whichever way it ran (through the local function, or directly). */
interface RunOutcome {
  /** A tick that found the lock held is "skipped", whatever the task's overlap policy answered. */
  readonly status: "succeeded" | "skipped" | "duplicate" | "paused" | "failed";
  readonly runId: string | undefined;
  readonly exit: number;
  /** The run in words, as `run` prints it. */
  readonly line: string;
  /** The run as `run --json` prints it. */
  readonly json: unknown;
}

/**
 * The console's "Force run" against the local function: Google documents that its
 * X-CloudScheduler-ScheduleTime may carry the next scheduled run's time, or be omitted
 * (https://cloud.google.com/scheduler/docs/configuring/deduplicate-job-requests). The function
 * runs it as a manual run, so the real tick at that time still runs.
 */
async function forceRunCommand(io: Io, job: Job, noScheduleTime: boolean, json: boolean): Promise<number> {
  const local = readLocalState(io.root);
  if (!local)
    throw new CliError(
      "unreachable",
      "the local stack is not running: start it with `npm start` (force-run sends to its function; `run` runs a task directly)",
    );
  const scheduleTime = noScheduleTime ? undefined : nextFireTime(job, io.now());
  const options: RunOptions = {
    dryRun: false,
    force: false,
    slot: undefined,
    direct: false,
    json,
    forceRun: { scheduleTime },
  };
  const outcome = await runThroughFunction(io, local, job, options);
  if (outcome === undefined)
    throw new CliError("unreachable", `the local function at ${local.functionUrl} did not answer`);
  io.out(json ? JSON.stringify(outcome.json, null, 2) : outcome.line);
  return outcome.exit;
}

async function localToken(local: LocalState): Promise<string> {
  const response = await fetch(`${local.consoleUrl}/token`, { method: "POST" });
  if (!response.ok) throw new Error(`the local console answered ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

/** undefined when the function is not reachable (the caller then runs directly). */
async function runThroughFunction(
  io: Io,
  local: LocalState,
  job: Job,
  options: RunOptions,
): Promise<RunOutcome | undefined> {
  let response: Response;
  try {
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Authorization: `Bearer ${await localToken(local)}`,
    };
    if (options.slot) {
      // The tick of that schedule time, as Cloud Scheduler would deliver it: same duplicate protection.
      headers["X-CloudScheduler-JobName"] = `projects/local-dev/locations/local/jobs/${job.name}`;
      headers["X-CloudScheduler-ScheduleTime"] = iso(options.slot);
    } else if (options.forceRun) {
      headers["X-CloudScheduler-JobName"] = `projects/local-dev/locations/local/jobs/${job.name}`;
      if (options.forceRun.scheduleTime)
        headers["X-CloudScheduler-ScheduleTime"] = iso(options.forceRun.scheduleTime);
    }
    if (!options.json)
      io.err(
        options.forceRun
          ? `force run of ${job.name} at ${local.functionUrl}, ${options.forceRun.scheduleTime ? `X-CloudScheduler-ScheduleTime ${iso(options.forceRun.scheduleTime)} (the next tick)` : "no X-CloudScheduler-ScheduleTime"}`
          : `running ${job.name} through the local function at ${local.functionUrl} (batch progress shows in npm start's log)`,
      );
    response = await fetch(`${local.functionUrl}${routes.run.path}`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        task: job.name,
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.force ? { force: true } : {}),
      } satisfies TaskBody),
    });
  } catch {
    return undefined;
  }
  const body: unknown = await response.json().catch(() => undefined);
  const answer: PostAnswer =
    isErrorAnswer(body) || response.ok
      ? (body as PostAnswer)
      : {
          error: {
            code: "internal",
            message: `the function answered ${response.status} without a JSON error`,
          },
        };
  const json = { httpStatus: response.status, ...answer };
  if ("error" in answer) {
    const lockHeld = answer.error.code === "lock_held";
    return {
      status: lockHeld ? "skipped" : "failed",
      runId: answer.error.runId,
      exit: response.status === 503 ? EXIT.unreachable : EXIT.failed,
      line: `${job.name}: ${lockHeld ? "skipped" : "failed"} (HTTP ${response.status} ${answer.error.code}): ${answer.error.message}`,
      json,
    };
  }
  return {
    status: answer.status,
    runId: answer.runId,
    exit: response.ok ? EXIT.ok : EXIT.failed,
    line: describeRun(answer),
    json,
  };
}

function describeRun(result: RunAnswer): string {
  switch (result.status) {
    case "succeeded":
      return `${result.task}: succeeded, ${result.rowsAffected} rows${result.dryRun ? " would change (dry run, nothing changed)" : ""} in ${result.durationMs} ms (run ${result.runId})${result.more ? "; more work left for the next run" : ""}`;
    case "skipped":
      return `${result.task}: skipped, another run of this task holds its lock (run ${result.runId})`;
    case "duplicate":
      return `${result.task}: this schedule time already succeeded in run ${result.runId}; nothing done`;
    case "paused":
      return `${result.task}: paused by ${result.pausedBy} at ${iso(result.pausedAt)}${result.until ? ` until ${iso(result.until)}` : ""}: ${result.reason}; nothing ran (run ${result.runId}; \`${CLI} resume ${result.task}\` to resume)`;
  }
}

/**
 * Runs tasks with the runner in this process, on `pool` (trigger `cli`): a slot is the run's tick
 * and its dedup slot, as a tick of Cloud Scheduler's would be.
 */
async function directRunner(
  io: Io,
  pool: Pool,
): Promise<(task: Job, options: RunOptions) => Promise<RunOutcome>> {
  const { refreshGeneratedSql } = await import("./generate/sql.js");
  const regenerated = refreshGeneratedSql();
  if (regenerated.length > 0) io.err(`sql/tasks changed: regenerated ${regenerated.join(", ")}`);
  // Only now: the runner's module graph reads functions/core/run/sql.generated.ts when it loads.
  const { runTask } = await import("../functions/core/run/runner.js");
  const jobs = loadJobs(io);
  let loadEmailHandler: RunnerDeps["loadEmailHandler"];
  return async (task, options) => {
    if (task.kind === "email" && !loadEmailHandler) {
      // The email code and SendGrid load only for an email task, configured from this environment.
      const email = await import("../functions/email/index.js");
      email.configureEmail(email.readEmailConfig(io.env));
      loadEmailHandler = (emailTask) => email.loadEmailHandler(emailTask);
    }
    const result = await runTask(
      {
        pool,
        jobs,
        ...(loadEmailHandler ? { loadEmailHandler } : {}),
        onProgress: (progress) => {
          if (options.json) return;
          io.err(
            progress.cancelled
              ? `  a batch ran past its timeout and was cancelled (nothing of it changed): retrying smaller`
              : `  batch ${progress.batches}: ${progress.rowsSoFar} rows so far (${progress.rowsPerSecond} rows/s)`,
          );
        },
      },
      { task, trigger: "cli", scheduleTime: options.slot, dryRun: options.dryRun, force: options.force },
    );
    if (result.status === "failed")
      return {
        status: "failed",
        runId: result.runId,
        exit: result.code === "unavailable" ? EXIT.unreachable : EXIT.failed,
        line: `${task.name}: failed (${result.code}): ${result.message} (run ${result.runId})`,
        json: result,
      };
    const answer = result.status === "locked" ? { ...result, status: "skipped" as const } : result;
    return {
      status: answer.status,
      runId: result.runId,
      exit: EXIT.ok,
      line: describeRun(answer),
      json: result,
    };
  };
}

// --- pause, resume ---------------------------------------------------------------------------

/** Who is at the keyboard, for the pause's audit. */
function operator(io: Io): string {
  const fromEnv = io.env.USER ?? io.env.USERNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

interface PauseRow {
  task: string;
  reason: string;
  paused_by: string;
  paused_at: Date;
  until: Date | null;
  resumed_at: Date | null;
  resumed_by: string | null;
}

function pauseJson(row: PauseRow): Record<string, unknown> {
  return {
    task: row.task,
    reason: row.reason,
    pausedBy: row.paused_by,
    pausedAt: row.paused_at.toISOString(),
    until: row.until?.toISOString() ?? null,
    resumedAt: row.resumed_at?.toISOString() ?? null,
    resumedBy: row.resumed_by,
  };
}

async function pauseCommand(
  io: Io,
  job: Job,
  reason: string,
  until: Date | undefined,
  json: boolean,
): Promise<number> {
  return withPool(io, async (pool, where) => {
    const result = await pool.query<PauseRow>("SELECT * FROM scheduler.pause_task($1, $2, $3, $4)", [
      job.name,
      reason,
      operator(io),
      until ?? null,
    ]);
    const row = result.rows[0]!;
    if (json) io.out(JSON.stringify({ paused: pauseJson(row) }, null, 2));
    else
      io.out(
        `${job.name}: paused by ${row.paused_by} at ${iso(row.paused_at)}${row.until ? ` until ${iso(row.until)}` : " until resumed"} (${where}): ${row.reason}\nIts ticks now answer "paused" and do nothing; \`${CLI} resume ${job.name}\` ends it.`,
      );
    return EXIT.ok;
  });
}

async function resumeCommand(io: Io, job: Job, json: boolean): Promise<number> {
  return withPool(io, async (pool) => {
    const result = await pool.query<PauseRow>("SELECT * FROM scheduler.resume_task($1, $2)", [
      job.name,
      operator(io),
    ]);
    const row = result.rows[0];
    if (json) io.out(JSON.stringify({ resumed: row ? pauseJson(row) : null }, null, 2));
    else if (!row) io.out(`${job.name}: was not paused at run time; nothing to do`);
    else
      io.out(
        `${job.name}: resumed by ${row.resumed_by ?? ""} (paused by ${row.paused_by} at ${iso(row.paused_at)}: ${row.reason}); its next tick runs`,
      );
    return EXIT.ok;
  });
}

// --- backfill, replay ------------------------------------------------------------------------

/** [--since, --until] of a backfill or a replay: --since required, --until now by default, no future. */
function timeRange(
  io: Io,
  sinceText: string | undefined,
  untilText: string | undefined,
  command: string,
): { since: Date; until: Date } {
  if (sinceText === undefined)
    throw new CliError("usage", `${command}: --since <time> is required (ISO 8601, or a duration ago: 2d)`);
  const now = io.now();
  const since = parseTime(sinceText, "--since", io, true);
  const until = untilText === undefined ? now : parseTime(untilText, "--until", io, true);
  if (until.getTime() > now.getTime())
    throw new CliError(
      "usage",
      `--until ${iso(until)} is in the future: a tick that has not come is not run`,
    );
  if (since.getTime() > until.getTime())
    throw new CliError("usage", `--since ${iso(since)} is after --until ${iso(until)}: nothing to run`);
  return { since, until };
}

function tickLimit(text: string | undefined): { value: number; given: boolean } {
  if (text === undefined) return { value: DEFAULT_TICK_LIMIT, given: false };
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > MAX_TICK_LIMIT)
    throw new CliError("usage", `--limit must be an integer from 1 to ${MAX_TICK_LIMIT}`);
  return { value, given: true };
}

interface SeriesOptions {
  readonly limit: { readonly value: number; readonly given: boolean };
  readonly dryRun: boolean;
  readonly direct: boolean;
  readonly json: boolean;
}

/** One run of a series: the job, and the tick that is its input and its slot. */
interface SeriesItem {
  readonly job: Job;
  readonly tick: Date;
}

interface SeriesRun {
  readonly task: string;
  readonly tick: string;
  readonly status: RunOutcome["status"] | "unreachable";
  readonly runId: string | null;
  readonly result: unknown;
}

interface SeriesEnd {
  readonly exit: number;
  readonly runs: SeriesRun[];
  /** The tick it stopped at (not done), and why; undefined when every run succeeded. */
  readonly stopped?: { readonly tick: string; readonly task: string; readonly reason: string };
  readonly via: string;
}

/**
 * Runs the items in order, each as `run <task> --slot <tick>` runs it (through the local function
 * when it is up and --direct is not given, else directly), and stops at the first that neither
 * succeeded nor was already done (a duplicate): a failure, a lock held by another run, a pause, an
 * unreachable database. Progress lines go to stderr, the runs to stdout.
 */
async function runSeries(
  io: Io,
  pool: Pool,
  where: string,
  items: readonly SeriesItem[],
  options: SeriesOptions,
): Promise<SeriesEnd> {
  const local = options.direct ? undefined : target(io).local;
  let throughFunction = local !== undefined;
  let direct: ((task: Job, options: RunOptions) => Promise<RunOutcome>) | undefined;
  const runs: SeriesRun[] = [];
  let via =
    throughFunction && local
      ? `through the local function at ${local.functionUrl}`
      : `directly against ${where}`;
  for (const { job, tick } of items) {
    const runOptions: RunOptions = {
      dryRun: false,
      force: false,
      slot: tick,
      direct: !throughFunction || !throughFunctionFor(job),
      json: true,
    };
    let outcome: RunOutcome | undefined;
    try {
      if (throughFunction && local && throughFunctionFor(job)) {
        outcome = await runThroughFunction(io, local, job, runOptions);
        if (outcome === undefined) {
          io.err(`note: the local function at ${local.functionUrl} did not answer; running directly`);
          throughFunction = false;
          via = `directly against ${where}`;
        }
      }
      if (outcome === undefined) {
        direct ??= await directRunner(io, pool);
        outcome = await direct(job, { ...runOptions, json: options.json });
      }
    } catch (error) {
      const unreachable = error instanceof ScheduledTaskError && error.code === "unavailable";
      if (!unreachable) throw error;
      runs.push({ task: job.name, tick: iso(tick), status: "unreachable", runId: null, result: null });
      if (!options.json) io.out(`  ${iso(tick)}  ${job.name}: not run: the database is unreachable`);
      return {
        exit: EXIT.unreachable,
        runs,
        stopped: { tick: iso(tick), task: job.name, reason: "the database is unreachable" },
        via,
      };
    }
    runs.push({
      task: job.name,
      tick: iso(tick),
      status: outcome.status,
      runId: outcome.runId ?? null,
      result: outcome.json,
    });
    if (!options.json) io.out(`  ${iso(tick)}  ${outcome.line}`);
    if (outcome.status === "succeeded" || outcome.status === "duplicate") continue;
    const reason =
      outcome.status === "failed"
        ? "the run failed"
        : outcome.status === "skipped"
          ? "another run of the task holds its lock"
          : `the task is paused at run time (\`${CLI} resume ${job.name}\` ends the pause)`;
    return {
      exit: outcome.exit === EXIT.ok ? EXIT.failed : outcome.exit,
      runs,
      stopped: { tick: iso(tick), task: job.name, reason },
      via,
    };
  }
  return { exit: EXIT.ok, runs, via };
}

/** How a backfill or replay ended: JSON, or the resume command when it stopped, or a done line. */
function reportSeriesEnd(
  io: Io,
  json: boolean,
  summary: Record<string, unknown>,
  end: SeriesEnd,
  resume: string | undefined,
  text: { readonly left: number; readonly done: string },
): void {
  if (json)
    io.out(
      JSON.stringify(
        { ...summary, via: end.via, runs: end.runs, stopped: end.stopped ?? null, resume: resume ?? null },
        null,
        2,
      ),
    );
  else if (resume) printStop(io, end, text.left, resume);
  else io.out(text.done);
}

/** The stop, and the command that resumes the series there, in words. */
function printStop(io: Io, end: SeriesEnd, left: number, resume: string): void {
  if (!end.stopped) return;
  io.out(
    `stopped at ${end.stopped.tick} (${end.stopped.task}): ${end.stopped.reason}; it and ${left} later tick(s) not done.`,
  );
  io.out(`After a fix, resume from the project's directory with:\n  ${resume}`);
}

function seriesArgs(options: SeriesOptions, until: Date): string[] {
  return [
    "--until",
    iso(until),
    ...(options.limit.given ? ["--limit", String(options.limit.value)] : []),
    ...(options.direct ? ["--direct"] : []),
  ];
}

function tooMany(what: string, plan: { atLeast: number; limit: number }, range: string): CliError {
  return new CliError(
    "usage",
    `${what} has more than ${plan.limit} ticks to run in ${range} (at least ${plan.atLeast}), so nothing ran: check --since (a mistyped date?), then list them with --dry-run --limit N and run them with --limit N (at most ${MAX_TICK_LIMIT} a time)${what.startsWith("replay") ? "" : ", or --once when the task does not read its tick"}`,
  );
}

async function backfillCommand(
  io: Io,
  job: Job,
  options: SeriesOptions & { readonly since: Date; readonly until: Date; readonly once: boolean },
): Promise<number> {
  const { onceProblem, planBackfill, resumeCommand, succeededTicks } = await import("./lib/backfill.js");
  if (options.once) {
    const problem = onceProblem(job);
    if (problem) throw new CliError("usage", problem);
  }
  const { since, until } = options;
  const range = `[${iso(since)}, ${iso(until)}]`;
  return withPool(io, async (pool, where) => {
    const done = await succeededTicks(pool, job.name, since, until);
    const plan: BackfillPlan = planBackfill(job, { since, until }, done, {
      limit: options.limit.value,
      once: options.once,
    });
    if (plan.kind === "too-many") throw tooMany(`backfill of ${job.name}`, plan, range);
    const ticks = plan.kind === "ticks" ? plan.ticks : plan.tick ? [plan.tick] : [];
    const summary = {
      task: job.name,
      since: iso(since),
      until: iso(until),
      once: options.once,
      alreadySucceeded: done.size,
      ...(plan.kind === "once" ? { standsFor: plan.missed } : {}),
      ticks: ticks.map((t) => iso(t)),
    };
    const about =
      plan.kind === "once"
        ? plan.tick
          ? `one run, for its latest tick ${iso(plan.tick)}, stands for the ${plan.missed}${plan.countedAll ? "" : "+"} missed tick(s) of ${range} (--once)`
          : `nothing to run: ${done.size > 0 ? "the latest tick of the range already succeeded" : "no tick in the range"} (--once)`
        : `${ticks.length} tick(s) of ${range} to run, ${plan.done} already succeeded`;
    if (options.dryRun) {
      if (options.json) io.out(JSON.stringify({ ...summary, dryRun: true }, null, 2));
      else {
        io.out(`${job.name} (${job.schedule} in ${job.timeZone}): ${about}; dry run, nothing ran`);
        for (const tick of ticks) io.out(`  ${iso(tick)}`);
      }
      return EXIT.ok;
    }
    if (!options.json) io.out(`${job.name} (${job.schedule} in ${job.timeZone}): ${about}`);
    const end = await runSeries(
      io,
      pool,
      where,
      ticks.map((tick) => ({ job, tick })),
      options,
    );
    const resume = end.stopped
      ? resumeCommand(CLI, [
          "backfill",
          job.name,
          "--since",
          end.stopped.tick,
          ...seriesArgs(options, until),
          ...(options.once ? ["--once"] : []),
        ])
      : undefined;
    reportSeriesEnd(io, options.json, summary, end, resume, {
      left: ticks.length - end.runs.length,
      done: ticks.length === 0 ? "nothing to run" : `done: ${end.runs.length} tick(s) run ${end.via}`,
    });
    return end.exit;
  });
}

async function replayCommand(
  io: Io,
  allJobs: readonly Job[],
  options: SeriesOptions & { readonly since: Date; readonly until: Date; readonly task: string | undefined },
): Promise<number> {
  const { failedRuns, resumeCommand } = await import("./lib/backfill.js");
  const { since, until } = options;
  const range = `[${iso(since)}, ${iso(until)}]`;
  const jobs = allJobs;
  return withPool(io, async (pool, where) => {
    const failed = await failedRuns(pool, { since, until, task: options.task });
    const items: SeriesItem[] = [];
    const leftAlone: { task: string; tick: string; runId: string; why: string }[] = [];
    for (const tick of failed.ticks) {
      const job = jobs.find((j) => j.name === tick.task);
      const why = !job
        ? "not a task of this stack"
        : !isFireTime(job, tick.scheduleTime)
          ? `not a schedule time of ${job.name} now (${job.schedule} in ${job.timeZone}): its schedule changed since`
          : undefined;
      if (job && !why) items.push({ job, tick: tick.scheduleTime });
      else
        leftAlone.push({ task: tick.task, tick: iso(tick.scheduleTime), runId: tick.runId, why: why ?? "" });
    }
    if (items.length > options.limit.value)
      throw tooMany(
        `replay${options.task ? ` of ${options.task}` : ""}`,
        { atLeast: items.length, limit: options.limit.value },
        range,
      );
    const manual = failed.manual.map((run) => ({
      task: run.task,
      runId: run.runId,
      startedAt: iso(run.startedAt),
      message: run.message,
    }));
    const summary = {
      since: iso(since),
      until: iso(until),
      task: options.task ?? null,
      ticks: items.map((item) => ({ task: item.job.name, tick: iso(item.tick) })),
      leftAlone,
      manual,
    };
    const describe = () => {
      io.out(
        `${items.length} failed tick(s) of ${range} to replay${options.dryRun ? "; dry run, nothing ran" : ""}:`,
      );
      if (options.dryRun) for (const item of items) io.out(`  ${iso(item.tick)}  ${item.job.name}`);
      for (const left of leftAlone)
        io.out(`  left alone: ${left.tick} ${left.task} (run ${left.runId}): ${left.why}`);
      if (manual.length > 0) {
        io.out(
          `${manual.length} failed manual run(s) not replayed: they stand for no tick (their input was their start); if their work is still due, \`${CLI} run <task>\` runs it now:`,
        );
        for (const run of manual)
          io.out(`  ${run.startedAt}  ${run.task} (run ${run.runId}): ${(run.message ?? "").slice(0, 80)}`);
      }
    };
    if (options.dryRun) {
      if (options.json) io.out(JSON.stringify({ ...summary, dryRun: true }, null, 2));
      else describe();
      return EXIT.ok;
    }
    if (!options.json) describe();
    const end = await runSeries(io, pool, where, items, options);
    const resume = end.stopped
      ? resumeCommand(CLI, [
          "replay",
          "--failed",
          "--since",
          end.stopped.tick,
          ...seriesArgs(options, until),
          ...(options.task ? ["--task", options.task] : []),
        ])
      : undefined;
    reportSeriesEnd(io, options.json, summary, end, resume, {
      left: items.length - end.runs.length,
      done: items.length === 0 ? "nothing to replay" : `done: ${end.runs.length} tick(s) replayed ${end.via}`,
    });
    return end.exit;
  });
}

// --- missed ----------------------------------------------------------------------------------

/** A tick younger than this may still be running: not reported as missed. */
const IN_FLIGHT_GRACE_MS = 60_000;

async function missedCommand(io: Io, jobs: readonly Job[], since: Date, json: boolean): Promise<number> {
  const now = io.now();
  const { historyBegins, succeededSlots } = await import("../functions/core/reads/history.js");
  return withPool(io, async (pool) => {
    const begins = await historyBegins(pool);
    // A brand-new stack has no history: the ticks before it are not missed, they were never due here.
    const from = begins === null ? now : new Date(Math.max(since.getTime(), begins.getTime()));
    const results = [];
    for (const job of jobs.filter((j) => !j.paused)) {
      const until = new Date(now.getTime() - Math.max(IN_FLIGHT_GRACE_MS, job.attemptDeadlineSeconds * 1000));
      const done = (await succeededSlots(pool, from, until)).get(job.name) ?? new Set<number>();
      const missed =
        from < until ? fireTimesBetween(job, from, until, 100_000).filter((t) => !done.has(t.getTime())) : [];
      results.push({ task: job.name, missed: missed.map((t) => iso(t)), until });
    }
    if (json) {
      const report = {
        since: since.toISOString(),
        historyBegins: begins?.toISOString() ?? null,
        countedFrom: from.toISOString(),
        tasks: results.map(({ task, missed }) => ({ task, missed })),
      };
      io.out(JSON.stringify(report, null, 2));
      return EXIT.ok;
    }
    if (begins === null) {
      io.out(
        "No run is recorded yet: the history begins with the first run, so no schedule time counts as missed.",
      );
      return EXIT.ok;
    }
    const counted =
      from > since ? `${iso(from)} (when the run history begins; asked from ${iso(since)})` : iso(since);
    io.out(`Schedule times since ${counted} with no successful run (paused jobs left out):`);
    for (const { task, missed, until } of results) {
      if (missed.length === 0) {
        io.out(`  ${task}: none`);
        continue;
      }
      io.out(`  ${task}: ${missed.length} missed; to run them (from the project's directory):`);
      for (const time of missed.slice(-5)) io.out(`    ${CLI} run ${task} --slot ${time}`);
      if (missed.length > 5) io.out(`    ... and ${missed.length - 5} earlier (--json lists all)`);
      if (missed.length > 1 && missed.length <= MAX_TICK_LIMIT) {
        const limit = missed.length > DEFAULT_TICK_LIMIT ? ` --limit ${missed.length}` : "";
        io.out(
          `    or all of them, oldest first: ${CLI} backfill ${task} --since ${missed[0]} --until ${iso(until)}${limit}`,
        );
      }
    }
    return EXIT.ok;
  });
}

// --- history ---------------------------------------------------------------------------------

async function historyCommand(
  io: Io,
  query: { task: string | undefined; failedOnly: boolean; limit: number },
  json: boolean,
): Promise<number> {
  const { recentRuns } = await import("../functions/core/reads/history.js");
  return withPool(io, async (pool) => {
    const runs: RunRecord[] = await recentRuns(pool, query);
    if (json) io.out(JSON.stringify({ runs }, null, 2));
    else if (runs.length === 0) io.out("no runs recorded yet");
    else
      io.out(
        table(
          ["run", "task", "trigger", "status", "started", "ms", "rows", "schedule time", "message"],
          runs.map((r) => [
            r.runId,
            r.task,
            r.trigger,
            `${r.status}${r.dryRun ? " (dry run)" : ""}${r.forced ? " (forced)" : ""}`,
            iso(r.startedAt),
            r.durationMs === null ? "-" : String(r.durationMs),
            r.rowsAffected === null ? "-" : String(r.rowsAffected),
            iso(r.scheduleTime),
            (r.message ?? "").slice(0, 80),
          ]),
        ),
      );
    return EXIT.ok;
  });
}

// --- health ----------------------------------------------------------------------------------

async function healthCommand(io: Io, jobs: readonly Job[], json: boolean): Promise<number> {
  const { readHealth } = await import("../functions/core/reads/health.js");
  return withPool(io, async (pool) => {
    const report: HealthReport = await readHealth(pool, io.now(), jobs);
    if (json) io.out(JSON.stringify(report, null, 2));
    else {
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
            t.paused ? "paused" : iso(t.nextRunAt),
            `${t.runs24h}/${t.failures24h}`,
            `${t.p50Ms ?? "-"}/${t.p95Ms ?? "-"}`,
            t.overdue ? "OVERDUE" : "no",
            (t.lastError ?? "").slice(0, 60),
          ]),
        ),
      );
      const bad = report.tasks.filter((t) => t.overdue || t.lastStatus === "failed");
      io.out(
        bad.length === 0
          ? "healthy: no task failed its last run or is overdue"
          : `needs attention: ${bad.map((t) => `${t.task} (${t.overdue ? "overdue" : "last run failed"})`).join(", ")}`,
      );
    }
    return report.status === "ok" ? EXIT.ok : EXIT.failed;
  });
}

// --- token -----------------------------------------------------------------------------------

async function tokenCommand(io: Io, json: boolean): Promise<number> {
  const local = readLocalState(io.root);
  if (!local)
    throw new CliError(
      "unreachable",
      "the local stack is not running: start it with `npm start` (tokens are signed by its development identity)",
    );
  let token: string;
  try {
    token = await localToken(local);
  } catch (error) {
    throw new CliError(
      "unreachable",
      `the local console at ${local.consoleUrl} did not answer: ${(error as Error).message}`,
    );
  }
  io.out(json ? JSON.stringify({ token, audience: local.functionUrl }) : token);
  return EXIT.ok;
}

// --- requeue ---------------------------------------------------------------------------------

async function requeueCommand(
  io: Io,
  values: {
    task: string | undefined;
    from: string | undefined;
    to: string | undefined;
    address: string | undefined;
    dryRun: boolean;
    json: boolean;
  },
): Promise<number> {
  const { requeueDeadEmails, requeueableTasks } = await import("./lib/requeue.js");
  const task = values.task;
  if (!task || !requeueableTasks.includes(task)) {
    throw new CliError(
      "usage",
      `requeue: --task must be one of ${requeueableTasks.join(", ")}${task ? ` (not "${task}")` : ""}`,
    );
  }
  const from = values.from === undefined ? undefined : parseTime(values.from, "--from", io, true);
  const to = values.to === undefined ? undefined : parseTime(values.to, "--to", io, true);
  const { dryRun } = values;
  const count = await withPool(io, (pool) =>
    requeueDeadEmails(pool, { task, from, to, address: values.address, dryRun }),
  );
  if (values.json) io.out(JSON.stringify({ task, requeued: dryRun ? 0 : count, matched: count, dryRun }));
  else
    io.out(
      dryRun
        ? `${task}: ${count} dead email(s) match; nothing changed (dry run)`
        : `${task}: ${count} dead email(s) queued again; the next run sends them`,
    );
  return EXIT.ok;
}

// --- env -------------------------------------------------------------------------------------

/**
 * The embedded database's URL, unmasked: its credentials are fixed local ones, and `npm run task` and
 * `npm run migrate` read only DATABASE_URL. A database the user named keeps its password unprinted.
 */
function envCommand(io: Io, json: boolean): number {
  const local = readLocalState(io.root);
  if (!local)
    throw new CliError(
      "unreachable",
      "the local stack is not running: start it with `npm start` (its embedded database runs only while it does)",
    );
  if (local.embeddedDatabase !== true)
    throw new CliError(
      "usage",
      `npm start runs on the database that its DATABASE_URL names (${describeUrl(local.databaseUrl)}): use that same DATABASE_URL`,
    );
  const quoted = `'${local.databaseUrl.replaceAll("'", `'\\''`)}'`;
  io.out(json ? JSON.stringify({ DATABASE_URL: local.databaseUrl }) : `export DATABASE_URL=${quoted}`);
  return EXIT.ok;
}

/** `scheduled-jobs history | head`: a closed pipe ends the output, not with a stack trace. */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

// `tsx scripts/cli.ts ...` as well as the bin.
if (process.argv[1] && /scripts[\\/]cli\.ts$/.test(process.argv[1])) {
  exitQuietlyOnClosedPipe();
  process.exitCode = await main(process.argv.slice(2));
}
