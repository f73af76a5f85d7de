/**
 * What an operator may do from the dashboard, platform-free: pause a task (with a reason and an
 * optional end), resume it, run it now (a manual run, as a console "Force run" is; a dry run if
 * asked) and replay one failed tick. Each goes through the core code the CLI uses (the pause's
 * writer, the runner, the replay plan) and is recorded in scheduler.operator_actions with who did
 * it and what came of it (a replay the plan left alone included). Who may call these (an operator, never the
 * scheduler's account) and how a browser's request is checked is the adapter's.
 */
import { ScheduledTaskError } from "../errors.js";
import type { Pool } from "../db/pool.js";
import type { PauseJson } from "../reads/tick-facts.js";
import { pauseJson } from "../reads/tick-facts.js";
import { runById } from "../reads/history.js";
import { readReplayPlan } from "../reads/replay-plan.js";
import type { RunRequest } from "../run/run-request.js";
import type { RunResult } from "../run/run-result.js";
import type { Job } from "../schedule/jobs.js";
import { jobNamed } from "../schedule/jobs.js";
import { quoted } from "../text.js";
import type { ActionName } from "./audit.js";
import { recordAction } from "./audit.js";
import { pauseTask, resumeTask } from "./pauses.js";

export type { ActionName } from "./audit.js";

/** The longest reason a pause keeps: a sentence or two, shown wherever the pause is. */
const MAX_REASON_LENGTH = 500;
/** A pause may end by itself at most this far ahead: a date a year out is a typo, not a plan. */
const MAX_UNTIL_MS = 366 * 24 * 3600 * 1000;

interface ActionDeps {
  readonly pool: Pool;
  readonly jobs: readonly Job[];
  /** The operator: the email of their verified token. */
  readonly operator: string;
  readonly now: Date;
  /** The runner, given the adapter's deps (pool, log, email handler). */
  readonly run: (request: RunRequest) => Promise<RunResult>;
}

export interface ActionAnswer {
  readonly actionId: string;
  readonly action: ActionName;
  readonly task: string;
  /** What came of it, in words (also recorded). */
  readonly outcome: string;
  /** Whether a run was made (run now, replay). */
  readonly ran: boolean;
  readonly pause?: PauseJson | null;
  readonly run?: RunResult;
}

/** The fields each action's JSON body takes, exactly. */
const actionFields: Readonly<Record<ActionName, readonly string[]>> = {
  pause: ["task", "reason", "until"],
  resume: ["task"],
  run: ["task", "dryRun"],
  replay: ["runId"],
};

/** Runs the action `name` asks with `body` (its JSON, not yet checked). */
export async function performAction(
  name: ActionName,
  body: unknown,
  deps: ActionDeps,
): Promise<ActionAnswer> {
  const fields = fieldsOf(name, body);
  switch (name) {
    case "pause":
      return pause(fields, deps);
    case "resume":
      return resume(fields, deps);
    case "run":
      return runNow(fields, deps);
    case "replay":
      return replay(fields, deps);
  }
}

function fieldsOf(name: ActionName, body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ScheduledTaskError(
      "bad_request",
      `the body must be a JSON object with ${actionFields[name].join(", ")}`,
    );
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !actionFields[name].includes(key));
  if (unknown.length > 0) {
    throw new ScheduledTaskError(
      "bad_request",
      `unknown field(s) ${unknown
        .slice(0, 5)
        .map((key) => quoted(key, 50))
        .join(", ")}: ${name} takes ${actionFields[name].join(", ")}`,
    );
  }
  return record;
}

function jobOf(fields: Record<string, unknown>, jobs: readonly Job[]): Job {
  const { task } = fields;
  if (typeof task !== "string" || task === "")
    throw new ScheduledTaskError("bad_request", "task must be a task's name");
  const job = jobNamed(jobs, task);
  if (!job) {
    throw new ScheduledTaskError("not_found", `unknown task ${quoted(task, 100)}`, {
      details: { tasks: jobs.map((candidate) => candidate.name) },
    });
  }
  return job;
}

function reasonOf(fields: Record<string, unknown>): string {
  const reason = typeof fields.reason === "string" ? fields.reason.trim() : "";
  if (reason === "")
    throw new ScheduledTaskError("bad_request", "reason is required: it is shown wherever the pause is");
  if (reason.length > MAX_REASON_LENGTH) {
    throw new ScheduledTaskError("bad_request", `reason is longer than ${MAX_REASON_LENGTH} characters`);
  }
  return reason;
}

/** `until`: an RFC 3339 time ahead of now (within a year), or absent (until resumed). */
function untilOf(fields: Record<string, unknown>, now: Date): Date | undefined {
  const { until } = fields;
  if (until === undefined || until === null) return undefined;
  const time =
    typeof until === "string" &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(until)
      ? new Date(until)
      : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    throw new ScheduledTaskError("bad_request", "until must be an RFC 3339 time, e.g. 2026-01-31T04:15:00Z");
  }
  if (time.getTime() <= now.getTime()) {
    throw new ScheduledTaskError("bad_request", `until ${time.toISOString()} is not in the future`);
  }
  if (time.getTime() - now.getTime() > MAX_UNTIL_MS) {
    throw new ScheduledTaskError("bad_request", `until ${time.toISOString()} is more than a year ahead`);
  }
  return time;
}

async function pause(fields: Record<string, unknown>, deps: ActionDeps): Promise<ActionAnswer> {
  const job = jobOf(fields, deps.jobs);
  const reason = reasonOf(fields);
  const until = untilOf(fields, deps.now);
  const paused = pauseJson(
    await pauseTask(deps.pool, { task: job.name, reason, pausedBy: deps.operator, until }),
  );
  const outcome = `paused ${paused.until ? `until ${paused.until}` : "until resumed"}: ${paused.reason}`;
  const request = { reason, until: until?.toISOString() ?? null };
  return answer(deps, { action: "pause", task: job.name, request, outcome, ran: false, pause: paused });
}

async function resume(fields: Record<string, unknown>, deps: ActionDeps): Promise<ActionAnswer> {
  const job = jobOf(fields, deps.jobs);
  const resumed = await resumeTask(deps.pool, job.name, deps.operator);
  const outcome = resumed
    ? `resumed (paused by ${resumed.pausedBy}: ${resumed.reason})`
    : "was not paused at run time: nothing to do";
  const pause = resumed ? pauseJson(resumed) : null;
  return answer(deps, { action: "resume", task: job.name, request: {}, outcome, ran: false, pause });
}

async function runNow(fields: Record<string, unknown>, deps: ActionDeps): Promise<ActionAnswer> {
  const job = jobOf(fields, deps.jobs);
  const { dryRun } = fields;
  if (dryRun !== undefined && typeof dryRun !== "boolean") {
    throw new ScheduledTaskError("bad_request", "dryRun must be true or false");
  }
  // A manual run, as the console's "Force run" is: it takes no tick's slot, so the next tick runs too.
  const result = await deps.run({ task: job, trigger: "manual", tick: deps.now, dryRun: dryRun === true });
  const request = { dryRun: dryRun === true };
  return answer(deps, {
    action: "run",
    task: job.name,
    request,
    outcome: describeRun(result),
    ran: true,
    run: result,
  });
}

/** Replays the failed tick of run `runId`, when the replay plan (as the CLI's) says it is still missed. */
async function replay(fields: Record<string, unknown>, deps: ActionDeps): Promise<ActionAnswer> {
  const { runId } = fields;
  if (typeof runId !== "string" || !/^\d{1,18}$/.test(runId)) {
    throw new ScheduledTaskError("bad_request", "runId must be the id of a failed run");
  }
  const failed = await runById(deps.pool, runId);
  if (!failed) throw new ScheduledTaskError("not_found", `no run ${runId} (purged, or never)`);
  const job = jobOf({ task: failed.task }, deps.jobs);
  if (failed.status !== "failed" || failed.dryRun || failed.scheduleTime === null) {
    throw new ScheduledTaskError(
      "bad_request",
      `run ${runId} is not a failed run of a tick (${failed.dryRun ? "a dry run" : failed.status}${failed.scheduleTime ? "" : ", no schedule time"}): only a failed tick is replayed; run the task now instead`,
    );
  }
  const tick = new Date(failed.scheduleTime);
  const plan = await readReplayPlan(
    deps.pool,
    deps.jobs,
    { since: tick, until: tick, task: job.name },
    deps.now,
  );
  const request = { runId, tick: tick.toISOString() };
  if (!plan.items.some((item) => item.tick.getTime() === tick.getTime())) {
    const why =
      plan.leftAlone.find((left) => left.tick.getTime() === tick.getTime())?.why ?? "it succeeded since";
    return answer(deps, {
      action: "replay",
      task: job.name,
      request,
      outcome: `left alone: ${why}`,
      ran: false,
    });
  }
  const result = await deps.run({ task: job, trigger: "replay", scheduleTime: tick, tick });
  return answer(deps, {
    action: "replay",
    task: job.name,
    request,
    outcome: describeRun(result),
    ran: true,
    run: result,
  });
}

/** A run's result in words, as the dashboard and the record show it. */
export function describeRun(result: RunResult): string {
  const dry = result.dryRun ? " (dry run)" : "";
  switch (result.status) {
    case "succeeded":
      return `succeeded${dry}: ${result.rowsAffected} row(s)${result.dryRun ? " would change" : ""}${result.more ? ", more to do" : ""}`;
    case "failed":
      return `failed${dry}: ${result.code}: ${result.message}`;
    case "paused":
      return `paused: nothing ran (paused by ${result.pausedBy}: ${result.reason})`;
    case "skipped":
    case "locked":
      return `skipped: ${result.message}`;
    case "duplicate":
      return "duplicate: this tick already succeeded";
  }
}

async function answer(
  deps: ActionDeps,
  done: Omit<ActionAnswer, "actionId"> & { readonly request: Record<string, unknown> },
): Promise<ActionAnswer> {
  const { request, ...rest } = done;
  const actionId = await recordAction(deps.pool, {
    operator: deps.operator,
    action: done.action,
    task: done.task,
    request,
    runId: done.run?.runId ?? null,
    outcome: done.outcome,
  });
  return { actionId, ...rest };
}
