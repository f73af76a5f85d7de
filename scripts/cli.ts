/**
 * The operator CLI (`scheduled-jobs`, `npm run cli --`): the jobs, their history and health, a run
 * now, and the ticks to backfill, against DATABASE_URL or the local stack that `npm start` runs.
 * `npm run task -- <task>` is this CLI's `run <task> --direct --json`.
 *
 * Exit codes: scripts/lib/exit-codes.ts, the table shared with `npm run migrate`.
 */
import { userInfo } from "node:os";
import { findTask, taskNames } from "../functions/catalog.js";
import type { PostAnswer, RunAnswer, TaskBody } from "../functions/contract.js";
import { isErrorAnswer, routes } from "../functions/contract.js";
import type { Pool } from "../functions/db.js";
import { createPool } from "../functions/db.js";
import { classifyDatabaseError, ScheduledTaskError } from "../functions/errors.js";
import type { HealthReport } from "../functions/health.js";
import type { RunnerDeps } from "../functions/runner.js";
import type { RunRecord } from "../functions/runs.js";
import type { Job } from "../functions/jobs.js";
import { cloudJobs } from "../functions/jobs.js";
import { fireTimesBetween, isFireTime, nextFireTime, nextFireTimes } from "../functions/schedule.js";
import type { Options } from "./lib/args.js";
import { didYouMean, errorOutput, parseCommandLine, UsageError, wantsJson } from "./lib/args.js";
import { connectionProblem, malformedUrl } from "./lib/connection-problem.js";
import type { ExitName } from "./lib/exit-codes.js";
import { EXIT, exitCodeLines } from "./lib/exit-codes.js";
import { defaultStackFile, stackJobs } from "./lib/jobs.js";
import type { LocalState } from "./lib/local-state.js";
import { readLocalState } from "./lib/local-state.js";

export interface Io {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly now: () => Date;
  /** Where `.data/` is (the local stack's state). */
  readonly root: string;
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
    summary: "every job: schedule, time zone, paused, next three runs, last status",
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

const indent = (text: string, by: number): string => text.replaceAll("\n", `\n${" ".repeat(by)}`);

const footer = `Options: --json (machine-readable output; errors too, as JSON on stderr), --help
Database: DATABASE_URL, else the local stack that npm start runs (.data/postgres).
Times: ISO 8601 (2026-11-29T04:15:00Z) or, for --since, a duration ago (90m, 6h, 2d).
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
      return forceRunCommand(io, jobOf(jobs, rest[0]), values["no-schedule-time"] === true, json);
    }
    case "missed": {
      const sinceText = text("since");
      const since =
        sinceText === undefined
          ? new Date(io.now().getTime() - 86_400_000)
          : parseTime(sinceText, "--since", io, true);
      return missedCommand(io, jobs, since, json);
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
    resolved = stackJobs(file);
  } catch (error) {
    throw new CliError("usage", (error as Error).message);
  }
  if (resolved.problems.length > 0) throw new CliError("usage", resolved.problems.join("\n"));
  return resolved.jobs;
}

/** A job Cloud Scheduler runs (pg_cron's run in the database). */
function jobOf(allJobs: readonly Job[], name: string): Job {
  const jobs = cloudJobs(allJobs);
  const job = jobs.find((j) => j.name === name);
  if (!job) {
    const task = findTask(name);
    throw new CliError(
      "usage",
      task
        ? `task "${name}" runs in the database (pg_cron), not through the scheduler`
        : `unknown task "${name}". Known tasks: ${taskNames.join(", ")}`,
    );
  }
  return job;
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

async function jobsCommand(io: Io, allJobs: readonly Job[], json: boolean): Promise<number> {
  const jobs = cloudJobs(allJobs);
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
    paused: job.paused,
    next: job.paused ? [] : nextFireTimes(job, now, 3).map((d) => d.toISOString()),
    lastStatus: lastStatus.get(job.name)?.status ?? null,
    lastRunAt: lastStatus.get(job.name)?.at ?? null,
  }));
  if (json) io.out(JSON.stringify({ jobs: rows, ...(note ? { note } : {}) }, null, 2));
  else {
    io.out(
      table(
        ["task", "schedule", "time zone", "paused", "next runs", "last status"],
        rows.map((r) => [
          r.task,
          r.schedule,
          r.timeZone,
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
  if (where.local && !options.direct) {
    const answered = await runThroughFunction(io, where.local, job, options);
    if (answered !== undefined) return answered;
    io.err(`note: the local function at ${where.local.functionUrl} did not answer; running directly`);
  }
  return runDirectly(io, job, options);
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
  const answered = await runThroughFunction(io, local, job, options);
  if (answered === undefined)
    throw new CliError("unreachable", `the local function at ${local.functionUrl} did not answer`);
  return answered;
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
): Promise<number | undefined> {
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
  if (options.json) io.out(JSON.stringify({ httpStatus: response.status, ...answer }, null, 2));
  else if ("error" in answer)
    io.out(`${job.name}: failed (HTTP ${response.status} ${answer.error.code}): ${answer.error.message}`);
  else io.out(describeRun(answer));
  if (response.ok) return EXIT.ok;
  return response.status === 503 ? EXIT.unreachable : EXIT.failed;
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

async function runDirectly(io: Io, task: Job, options: RunOptions): Promise<number> {
  const { refreshGeneratedSql } = await import("./generate-sql.js");
  const regenerated = refreshGeneratedSql();
  if (regenerated.length > 0) io.err(`sql/tasks changed: regenerated ${regenerated.join(", ")}`);
  // Only now: the runner's module graph reads functions/sql.generated.ts when it loads.
  const { runTask } = await import("../functions/runner.js");
  return withPool(io, async (pool, where) => {
    if (!options.json) io.err(`running ${task.name} directly against ${where}`);
    let loadEmailHandler: RunnerDeps["loadEmailHandler"];
    if (task.kind === "email") {
      // The email code and SendGrid load only for an email task, configured from this environment.
      const email = await import("../functions/email/index.js");
      email.configureEmail(email.readEmailConfig(io.env));
      loadEmailHandler = (emailTask) => email.loadEmailHandler(emailTask);
    }
    const result = await runTask(
      {
        pool,
        jobs: loadJobs(io),
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
    if (options.json) io.out(JSON.stringify(result, null, 2));
    else if (result.status === "failed")
      io.out(`${task.name}: failed (${result.code}): ${result.message} (run ${result.runId})`);
    else io.out(describeRun(result.status === "locked" ? { ...result, status: "skipped" } : result));
    if (result.status !== "failed") return EXIT.ok;
    return result.code === "unavailable" ? EXIT.unreachable : EXIT.failed;
  });
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

// --- missed ----------------------------------------------------------------------------------

/** A tick younger than this may still be running: not reported as missed. */
const IN_FLIGHT_GRACE_MS = 60_000;

async function missedCommand(io: Io, allJobs: readonly Job[], since: Date, json: boolean): Promise<number> {
  const jobs = cloudJobs(allJobs);
  const now = io.now();
  const { historyBegins, succeededSlots } = await import("../functions/runs.js");
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
      results.push({ task: job.name, missed: missed.map((t) => iso(t)) });
    }
    if (json) {
      const report = {
        since: since.toISOString(),
        historyBegins: begins?.toISOString() ?? null,
        countedFrom: from.toISOString(),
        tasks: results,
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
    for (const { task, missed } of results) {
      if (missed.length === 0) {
        io.out(`  ${task}: none`);
        continue;
      }
      io.out(`  ${task}: ${missed.length} missed; to run them (from the project's directory):`);
      for (const time of missed.slice(-5)) io.out(`    ${CLI} run ${task} --slot ${time}`);
      if (missed.length > 5) io.out(`    ... and ${missed.length - 5} earlier (--json lists all)`);
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
  const { recentRuns } = await import("../functions/runs.js");
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
  const { readHealth } = await import("../functions/health.js");
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
