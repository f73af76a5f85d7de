/**
 * The calendar of `plan`: every job of the stack, who runs it, its schedule in words and cron, its
 * zone and pauses, and its fire times over the window in UTC and in its zone, the ones a DST change
 * moves or repeats marked, with what each runner does there (dst.ts). Fire times are
 * functions/core/schedule/fire-times.ts's, as everywhere else.
 */
import type { TaskDefinition } from "../../functions/core/catalog.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Scheduled } from "../../functions/core/schedule/fire-times.js";
import { parseCron } from "../../functions/core/schedule/cron-grammar.js";
import { fireTimesBetween } from "../../functions/core/schedule/fire-times.js";
import type { PauseJson } from "../../functions/core/reads/tick-facts.js";
import type { DstEvent, RunnerName, ZoneChange } from "./dst.js";
import { dstEvents, offsetMinutes, runnerDoes, zoneChanges } from "./dst.js";
import { scheduleInWords } from "../../functions/core/schedule/words.js";

export interface PlanWindow {
  readonly from: Date;
  readonly to: Date;
  readonly days: number;
}

interface FireTime {
  readonly utc: string;
  /** In the job's zone: `YYYY-MM-DD HH:MM +hh:mm`. */
  readonly local: string;
  /** A fire time a DST change moved (a skipped time fired after the gap) or that a repeated time made. */
  readonly dst?: "moved" | "repeated";
}

/** A wall-clock time of the job that a DST change in the window skips or repeats. */
interface DstNote {
  readonly kind: DstEvent["kind"];
  readonly wall: string;
  readonly change: string;
  /** What each of the job's runners does there, and on whose word. */
  readonly runners: readonly { readonly runner: RunnerName; readonly does: string }[];
}

export interface CalendarEntry {
  readonly task: string;
  readonly kind: Job["kind"];
  readonly runners: readonly RunnerName[];
  readonly schedule: string;
  readonly words: string;
  readonly timeZone: string;
  /** Paused in the stack's config (the scheduler's job exists, and is paused). */
  readonly paused: boolean;
  /** The run-time pause in force (`cli pause`); null: none; absent without a database. */
  readonly runTimePause?: PauseJson | null;
  /** The fields the stack overrides, and the catalog's schedule when the stack changes it. */
  readonly overridden: readonly string[];
  readonly catalogSchedule?: string;
  /** Fire times in the window, however many; `fires` lists the first of them. */
  readonly fireCount: number;
  readonly fires: readonly FireTime[];
  readonly dst: readonly DstNote[];
  /** Why its fire times cannot be listed (a schedule or zone the stack would refuse). */
  readonly problem?: string;
}

/** How many fire times an entry lists (its count is always whole). */
const LISTED_FIRES = 200;

/** `YYYY-MM-DD HH:MM +hh:mm` in the zone. */
function localTime(zone: string, at: Date): string {
  const offset = offsetMinutes(zone, at.getTime());
  const wall = new Date(at.getTime() + offset * 60_000).toISOString().slice(0, 16).replace("T", " ");
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${wall} ${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** Every fire time in (from, to]: each step of the walk lists at most this many. */
const WALK_STEP = 1_000;
const DAY_MS = 86_400_000;

/** The job's first `keep` fire times in [from, to), oldest first. */
export function firstFires(job: Scheduled, from: Date, to: Date, keep: number): Date[] {
  return keep <= 0
    ? []
    : fireTimesBetween(job, new Date(from.getTime() - 1), new Date(to.getTime() - 1), keep);
}

/** How many fire times the job has in [from, to), walked one by one. */
function walkedCount(job: Scheduled, from: number, to: number): number {
  let count = 0;
  let cursor = new Date(from - 1);
  const end = new Date(to - 1);
  for (;;) {
    const step = fireTimesBetween(job, cursor, end, WALK_STEP);
    count += step.length;
    if (step.length < WALK_STEP) return count;
    cursor = step[step.length - 1]!;
  }
}

/**
 * Whether every day of the schedule is the same day: read in UTC (no DST), and no field that
 * picks days or months. Then a day's count, times the days, is the count: a month of an
 * every-minute task is one day's walk, not 43,200 steps.
 */
function sameEveryDay(job: Scheduled): boolean {
  if (job.timeZone !== "UTC") return false;
  const parsed = parseCron(job.schedule);
  if ("problem" in parsed) return false;
  const { fields } = parsed;
  return !fields.daysOfMonthRestricted && !fields.daysOfWeekRestricted && fields.months.size === 12;
}

/** How many fire times the job has in [from, to). */
export function countFires(job: Scheduled, from: Date, to: Date): number {
  const start = from.getTime();
  const days = Math.floor((to.getTime() - start) / DAY_MS);
  if (days < 2 || !sameEveryDay(job)) return walkedCount(job, start, to.getTime());
  return (
    walkedCount(job, start, start + DAY_MS) * days + walkedCount(job, start + days * DAY_MS, to.getTime())
  );
}

/** The DST events of a job over its zone's changes. */
export function eventsOf(job: Scheduled, changes: readonly ZoneChange[]): DstEvent[] {
  return changes.flatMap((change) => dstEvents(job, change));
}

/** The zone's changes in the window, read once per zone. */
export function changesIn(zone: string, window: { from: Date; to: Date }): ZoneChange[] {
  return zoneChanges(zone, window.from, window.to);
}

export function calendarEntry(
  job: Job,
  runners: readonly RunnerName[],
  window: PlanWindow,
  catalog: readonly TaskDefinition[],
): CalendarEntry {
  const task = catalog.find((t) => t.name === job.name);
  const base = {
    task: job.name,
    kind: job.kind,
    runners,
    schedule: job.schedule,
    words: scheduleInWords(job.schedule),
    timeZone: job.timeZone,
    paused: job.paused,
    overridden: job.overridden,
    ...(task && task.schedule !== job.schedule ? { catalogSchedule: task.schedule } : {}),
  };
  let walked: { count: number; first: Date[] };
  let events: DstEvent[];
  try {
    walked = {
      count: countFires(job, window.from, window.to),
      first: firstFires(job, window.from, window.to, LISTED_FIRES),
    };
    events = eventsOf(job, changesIn(job.timeZone, window));
  } catch (error) {
    return { ...base, fireCount: 0, fires: [], dst: [], problem: (error as Error).message };
  }
  const local = (at: Date): string => localTime(job.timeZone, at);
  const marks = new Map<number, "moved" | "repeated">();
  for (const event of events) {
    for (const at of event.fires) marks.set(at.getTime(), event.kind === "moved" ? "moved" : "repeated");
  }
  const fires = walked.first.map((at) => {
    const dst = marks.get(at.getTime());
    return { utc: at.toISOString(), local: local(at), ...(dst ? { dst } : {}) };
  });
  const dst = events.map((event) => ({
    kind: event.kind,
    wall: event.wall,
    change: event.change.at.toISOString(),
    runners: runners.map((runner) => ({ runner, does: runnerDoes(event, runner, local) })),
  }));
  return { ...base, fireCount: walked.count, fires, dst };
}
