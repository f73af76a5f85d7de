/**
 * What `plan` warns about, each with its cause and its fix: what `pulumi up` would refuse (infra's
 * own check), a run that can outlast its interval and what its overlap policy then does, heavy tasks
 * that fire in the same minute on the one database, schedules a DST change touches (and a daily
 * task that then fires twice or not at all), a pg_cron task in a zone other than UTC, Cloud
 * Scheduler jobs beyond the free ones, and a task both runners fire.
 */
import { overlapOf } from "../../functions/core/catalog.js";
import { cronProblem } from "../../functions/core/schedule/cron-grammar.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { isTimeZone } from "../../functions/core/schedule/jobs.js";
import { nextFireTimes } from "../../functions/core/schedule/fire-times.js";
import { isUtc, pgCronSchedule } from "../generate/pg-cron-render.js";
import type { PlanWindow } from "./calendar.js";
import { changesIn, countFires, eventsOf, firstFires } from "./calendar.js";
import type { DstEvent, RunnerName } from "./dst.js";
import { changedHours, runnerFires } from "./dst.js";
import { prices, PRICES_DATE } from "./prices.js";
import type { Cloud } from "./stack.js";
import { firesOnceADay } from "../../functions/core/schedule/words.js";

type WarningKind =
  | "stack-refused"
  | "outlasts-interval"
  | "same-minute"
  | "dst-hour"
  | "dst-daily"
  | "pg-cron-zone"
  | "free-tier"
  | "both-runners"
  | "drift"
  | "guard"
  | "impact";

export interface Warning {
  readonly kind: WarningKind;
  readonly tasks: readonly string[];
  readonly cause: string;
  readonly fix: string;
}

interface WarningInput {
  readonly cloud: Cloud;
  readonly jobs: readonly Job[];
  readonly runners: ReadonlyMap<string, readonly RunnerName[]>;
  readonly refusals: readonly string[];
  readonly window: PlanWindow;
  /** How long a run of the task may take, in seconds (infra/aws/config.ts `runBoundSeconds`). */
  readonly runBoundSeconds: (job: Job) => number;
}

/** DST warnings look this far ahead of the window's start, whatever the window: a year's changes. */
const DST_LOOKAHEAD_MS = 366 * 86_400_000;

/**
 * A task is heavy for the database when its work comes in batches (a backlog, row locks held batch
 * after batch) or its catalog lets it run five minutes or more.
 */
const HEAVY_TIMEOUT_SECONDS = 300;

function isHeavy(job: Job): boolean {
  return job.kind === "sql" && (job.batch !== undefined || job.timeoutSeconds >= HEAVY_TIMEOUT_SECONDS);
}

export function planWarnings(input: WarningInput): Warning[] {
  // A job whose schedule or zone is refused has no fire times to judge: its refusal says so.
  const sound = input.jobs.filter(
    (job) => cronProblem(job.schedule) === undefined && isTimeZone(job.timeZone),
  );
  return [
    ...input.refusals.map(refused(input.cloud)),
    ...sound.flatMap((job) => outlasts(job, input)),
    ...sameMinute(sound, input.window),
    ...sound.flatMap((job) => dstWarnings(job, input)),
    ...sound.flatMap(pgCronZone),
    ...freeTier(input),
    ...sound.flatMap((job) => bothRunners(job, input.runners.get(job.name) ?? [])),
  ];
}

function refused(cloud: Cloud): (problem: string) => Warning {
  return (problem) => ({
    kind: "stack-refused",
    tasks: [],
    cause: `\`pulumi up\` would refuse the stack: ${problem}`,
    fix: `correct the value it names in the stack file (the check is infra/${cloud}/config.ts's, which \`pulumi up\` runs)`,
  });
}

/** What a tick that finds the last run still going does, on this runner with this overlap policy. */
function overlapDoes(job: Job, runner: RunnerName): string {
  if (runner === "pg_cron")
    return "pg_cron starts one run of a job at a time: the next is queued and starts when this one ends, with that later minute as its tick (https://github.com/citusdata/pg_cron)";
  const { retryCount, minBackoffSeconds, maxBackoffSeconds } = job.retry;
  if (overlapOf(job) === "skip")
    return `its overlap policy is "skip": that tick is recorded skipped and not retried, and the first tick after the run ends does the work`;
  return runner === "Cloud Scheduler"
    ? `its overlap policy is "retry": that tick is answered 409 and Cloud Scheduler retries it (${retryCount} retries, ${minBackoffSeconds} s to ${maxBackoffSeconds} s apart)`
    : `its overlap policy is "retry": that tick is thrown back and Lambda retries the event up to twice, about 1 and 2 minutes later (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html)`;
}

function outlasts(job: Job, input: WarningInput): Warning[] {
  if (job.paused) return [];
  const next = nextFireTimes(job, input.window.from, 100);
  let interval = Infinity;
  for (let i = 1; i < next.length; i++)
    interval = Math.min(interval, (next[i]!.getTime() - next[i - 1]!.getTime()) / 1000);
  const bound = input.runBoundSeconds(job);
  if (!(bound > interval)) return [];
  const by = job.batch?.sizedByTime
    ? `its time budget of ${job.batch.timeBudgetSeconds} s and one batch`
    : `its timeout of ${job.timeoutSeconds} s`;
  const runners = input.runners.get(job.name) ?? [];
  return [
    {
      kind: "outlasts-interval",
      tasks: [job.name],
      cause: `${job.name} can run ${bound} s (${by}) and fires every ${interval} s at the closest: the next tick can come while a run still holds the task's lock; ${runners.map((runner) => `on ${runner}, ${overlapDoes(job, runner)}`).join("; ")}`,
      fix: `fire it at most every ${bound} s, or lower its timeoutSeconds${job.batch ? " or batch time budget" : ""} in the catalog below ${interval} s`,
    },
  ];
}

/** A minute since the epoch as `YYYY-MM-DD HH:MMZ`. */
const minuteText = (minute: number): string =>
  `${new Date(minute * 60_000).toISOString().slice(0, 16).replace("T", " ")}Z`;

function sameMinute(jobs: readonly Job[], window: PlanWindow): Warning[] {
  const heavy = jobs.filter((job) => !job.paused && isHeavy(job));
  const byMinute = new Map<number, string[]>();
  for (const job of heavy) {
    for (const at of firstFires(job, window.from, window.to, countFires(job, window.from, window.to))) {
      const minute = Math.floor(at.getTime() / 60_000);
      byMinute.set(minute, [...(byMinute.get(minute) ?? []), job.name]);
    }
  }
  const pairs = new Map<string, { tasks: string[]; first: number; count: number }>();
  for (const [minute, names] of byMinute) {
    if (names.length < 2) continue;
    const key = names.join(" + ");
    const pair = pairs.get(key);
    if (pair) pair.count += 1;
    else pairs.set(key, { tasks: names, first: minute, count: 1 });
  }
  return [...pairs.values()].map(({ tasks, first, count }) => ({
    kind: "same-minute" as const,
    tasks,
    cause: `${listed(tasks)} are heavy (batched, or allowed ${HEAVY_TIMEOUT_SECONDS / 60} minutes or more) and fire in the same minute on the one database: ${minuteText(first)}${count > 1 ? ` and ${count - 1} more time(s)` : ""} in the window; their batches compete for the same I/O and locks`,
    fix: `move one of them to a minute of its own (a few minutes apart is enough)`,
  }));
}

/** The job's wall-clock times a DST change skips or repeats in the year from the window's start. */
function yearEvents(job: Job, window: PlanWindow): DstEvent[] {
  if (isUtc(job.timeZone)) return [];
  const from = window.from;
  return eventsOf(job, changesIn(job.timeZone, { from, to: new Date(from.getTime() + DST_LOOKAHEAD_MS) }));
}

/** What the runner's documentation (or, for pg_cron, the project's tests) says it does at a DST change. */
function documented(runner: RunnerName): string {
  switch (runner) {
    case "Cloud Scheduler":
      return "Google documents only that DST can make Cloud Scheduler jobs run or not run unexpectedly (https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules)";
    case "EventBridge Scheduler":
      return "EventBridge Scheduler skips a time the spring change skips and runs a repeated time once (https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst)";
    case "pg_cron":
      return "pg_cron's in-database check fires as the project's rule says (docs/pg-cron.md)";
  }
}

/** "a", "a and b", "a, b and c". */
export function listed(names: readonly string[]): string {
  return names.length < 2
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

function dstWarnings(job: Job, input: WarningInput): Warning[] {
  if (job.paused) return [];
  const events = yearEvents(job, input.window);
  if (events.length === 0) return [];
  const walls = [
    ...new Set(
      events.map((e) => `${e.wall} (${e.kind === "repeated" ? "happens twice" : "does not happen"})`),
    ),
  ];
  const runners = input.runners.get(job.name) ?? [];
  const warnings: Warning[] = [
    {
      kind: "dst-hour",
      tasks: [job.name],
      cause: `${job.name} runs at ${job.schedule} in ${job.timeZone}, in an hour a DST change skips or repeats: ${walls.join(", ")}; ${runners.map(documented).join("; ")}`,
      fix: `schedule it outside the hour the zone changes in, or in UTC${runners.includes("Cloud Scheduler") ? " (Google's advice)" : ""}`,
    },
  ];
  if (!firesOnceADay(job.schedule)) return warnings;
  for (const runner of runners) {
    const byDay = new Map<string, DstEvent[]>();
    for (const event of events)
      byDay.set(event.wall.slice(0, 10), [...(byDay.get(event.wall.slice(0, 10)) ?? []), event]);
    for (const [day, dayEvents] of byDay) {
      const fires =
        1 -
        dayEvents.flatMap((e) => e.fires).length +
        dayEvents.flatMap((e) => runnerFires(e, runner)).length;
      if (fires === 1) continue;
      warnings.push({
        kind: "dst-daily",
        tasks: [job.name],
        cause: `${job.name} fires ${fires === 0 ? "not at all" : `${fires} times`} on ${day} (${job.timeZone}) on ${runner}: ${dayEvents.map((e) => `${e.wall.slice(11)} ${e.kind === "repeated" ? "happens twice" : "does not happen"}`).join(", ")} that night; ${documented(runner)}`,
        fix: `schedule it outside the hour the zone changes in (${changedHours(dayEvents[0]!.change)} local), or in UTC`,
      });
    }
  }
  return warnings;
}

function pgCronZone(job: Job): Warning[] {
  if (job.runner !== "pg_cron" || job.kind !== "sql" || isUtc(job.timeZone)) return [];
  return [
    {
      kind: "pg-cron-zone",
      tasks: [job.name],
      cause: `${job.name} runs in pg_cron in ${job.timeZone}: pg_cron reads schedules in UTC, so the setup schedules it \`${pgCronSchedule(job)}\` and each start checks the tick in the database (scheduler.cron_matches); every start but its own returns at once and is a row in cron.job_run_details (docs/pg-cron.md)`,
      fix: `give it a UTC schedule: one pg_cron entry, no check`,
    },
  ];
}

function freeTier(input: WarningInput): Warning[] {
  if (input.cloud !== "gcp") return [];
  const jobs = input.jobs.filter((job) => job.runner === "cloud");
  const { freeJobs, perJobMonth } = prices.cloudScheduler;
  if (jobs.length <= freeJobs) return [];
  const billed = jobs.length - freeJobs;
  return [
    {
      kind: "free-tier",
      tasks: [],
      cause: `${jobs.length} Cloud Scheduler jobs (a paused job counts), ${freeJobs} free per billing account: ${billed} billed at $${perJobMonth.toFixed(2)} a month each, $${(billed * perJobMonth).toFixed(2)} a month (prices of ${PRICES_DATE}, https://cloud.google.com/scheduler/pricing), more if the account has other jobs`,
      fix: `accept the cost, or run SQL tasks in the database instead (the catalog's runner "pg_cron"; docs/pg-cron.md)`,
    },
  ];
}

function bothRunners(job: Job, runners: readonly RunnerName[]): Warning[] {
  if (runners.length < 2) return [];
  return [
    {
      kind: "both-runners",
      tasks: [job.name],
      cause: `${job.name} is fired by ${runners.join(" and ")}: the database's pg_cron jobs include it while the stack runs it from ${runners[0]}; of the two runs of each tick, the second finds the tick done (duplicate) or the lock held (skipped)`,
      fix: `finish the switch: load sql/pg_cron_setup_hybrid.sql (pg_cron keeps only its own tasks), or set the task's runner to "pg_cron" and drop its job from the stack`,
    },
  ];
}
