/**
 * What a zone's daylight-saving changes do to a job's fire times, and what each runner does there.
 *
 * The project's rule is croner's, in functions/core/schedule/fire-times.ts (its header says it):
 * a wall-clock time a spring change skips fires at the first instant after the gap when the
 * schedule has one hour, and not at all when it has several; a time the autumn change repeats fires
 * at its first occurrence when the schedule has one hour, and at each occurrence when it has
 * several. pg_cron's in-database check (scheduler.cron_matches) follows the same rule, and
 * test/pg-cron checks it minute by minute. The platforms:
 * - Cloud Scheduler: Google documents only that DST "can cause jobs to run or not run
 *   unexpectedly", and recommends UTC
 *   (https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules): the project's rule is
 *   what /health expects, not something Google promises.
 * - EventBridge Scheduler: a time the spring change skips is skipped, and a repeated time runs once
 *   (https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst).
 */
import type { Scheduled } from "../../functions/core/schedule/fire-times.js";
import { fireTimesBetween, isFireTime } from "../../functions/core/schedule/fire-times.js";

export type RunnerName = "Cloud Scheduler" | "EventBridge Scheduler" | "pg_cron";

/** A change of a zone's UTC offset: the instant, and the offsets (minutes east of UTC) around it. */
export interface ZoneChange {
  readonly at: Date;
  readonly offsetBefore: number;
  readonly offsetAfter: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The zone's UTC offset at `at`, in minutes east of UTC. */
export function offsetMinutes(zone: string, at: number): number {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en", { timeZone: zone, timeZoneName: "longOffset" });
    formats.set(zone, format);
  }
  const name = format.formatToParts(at).find((part) => part.type === "timeZoneName")?.value ?? "GMT";
  const match = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(name);
  if (!match) throw new Error(`time zone ${zone}: unexpected offset "${name}"`);
  return (match[1] === "-" ? -1 : 1) * (Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0));
}

const MINUTE = 60_000;
/** Offsets are sampled this often: zones change their offset months apart. */
const SAMPLE_MS = 6 * 3_600_000;

/** The zone's offset changes in [from, to), each at the minute it takes effect. */
export function zoneChanges(zone: string, from: Date, to: Date): ZoneChange[] {
  // The one zone every schedule defaults to has no changes to look for.
  if (zone === "UTC") return [];
  const changes: ZoneChange[] = [];
  let previousAt = from.getTime();
  let previous = offsetMinutes(zone, previousAt);
  for (let at = previousAt + SAMPLE_MS; previousAt < to.getTime(); at += SAMPLE_MS) {
    const sampleAt = Math.min(at, to.getTime());
    const offset = offsetMinutes(zone, sampleAt);
    if (offset !== previous) {
      let low = previousAt;
      let high = sampleAt;
      while (high - low > MINUTE) {
        const middle = low + Math.floor((high - low) / (2 * MINUTE)) * MINUTE;
        if (offsetMinutes(zone, middle) === offset) high = middle;
        else low = middle;
      }
      if (high >= from.getTime() && high < to.getTime())
        changes.push({ at: new Date(high), offsetBefore: previous, offsetAfter: offset });
    }
    previous = offset;
    previousAt = sampleAt;
  }
  return changes;
}

/**
 * A wall-clock time of the job's schedule that a change skips or repeats, and what happens to it:
 * - moved: skipped, and croner fires it at the first instant after the gap (`fires`);
 * - skipped: skipped, and nothing fires for it;
 * - repeated: it happens twice (`occurrences`), and croner fires at `fires` (one or both).
 */
export interface DstEvent {
  readonly kind: "moved" | "skipped" | "repeated";
  readonly change: ZoneChange;
  /** The wall-clock time in the job's zone, `YYYY-MM-DD HH:MM`. */
  readonly wall: string;
  /** The instants the project's rule (croner) fires for it. */
  readonly fires: readonly Date[];
  /** A repeated time's two instants. */
  readonly occurrences: readonly Date[];
}

/** The schedule's wall-clock times in [start, end): its fire times read in UTC, which has no DST. */
function wallTimes(job: Scheduled, start: number, end: number): Date[] {
  return fireTimesBetween(
    { name: job.name, schedule: job.schedule, timeZone: "UTC" },
    new Date(start - 1),
    new Date(end - 1),
  );
}

const wallText = (wall: Date): string => wall.toISOString().slice(0, 16).replace("T", " ");

/** The job's wall-clock times a change skips or repeats, and what croner fires for each. */
export function dstEvents(job: Scheduled, change: ZoneChange): DstEvent[] {
  const at = change.at.getTime();
  const before = change.offsetBefore * MINUTE;
  const after = change.offsetAfter * MINUTE;
  if (after > before) {
    // Spring: the wall-clock times [at + before, at + after) do not happen.
    const atWall = new Date(at + after);
    const gapFires =
      isFireTime(job, change.at) && wallTimes(job, atWall.getTime(), atWall.getTime() + 1).length === 0;
    return wallTimes(job, at + before, at + after).map((wall) => ({
      kind: gapFires ? "moved" : "skipped",
      change,
      wall: wallText(wall),
      fires: gapFires ? [change.at] : [],
      occurrences: [],
    }));
  }
  // Autumn: the wall-clock times [at + after, at + before) happen twice.
  return wallTimes(job, at + after, at + before).map((wall) => {
    const occurrences = [new Date(wall.getTime() - before), new Date(wall.getTime() - after)];
    return {
      kind: "repeated",
      change,
      wall: wallText(wall),
      fires: occurrences.filter((instant) => isFireTime(job, instant)),
      occurrences,
    };
  });
}

/** The wall-clock hour a change skips or repeats: `2026-03-29 02:00 to 03:00`. */
export function changedHours(change: ZoneChange): string {
  const at = change.at.getTime();
  const [start, end] = [at + change.offsetBefore * MINUTE, at + change.offsetAfter * MINUTE].sort(
    (a, b) => a - b,
  );
  return `${wallText(new Date(start!))} to ${wallText(new Date(end!)).slice(11)}`;
}

/** What a runner fires for a wall-clock time a change touches (see the module's comment). */
export function runnerFires(event: DstEvent, runner: RunnerName): readonly Date[] {
  if (runner !== "EventBridge Scheduler") return event.fires;
  return event.kind === "repeated" ? event.occurrences.slice(0, 1) : [];
}

/** What a runner does there, in words, and where that comes from. */
export function runnerDoes(event: DstEvent, runner: RunnerName, local: (at: Date) => string): string {
  const fires = runnerFires(event, runner);
  const what = fires.length === 0 ? "does not fire" : `fires at ${fires.map(local).join(" and at ")}`;
  switch (runner) {
    case "Cloud Scheduler":
      return `${what} (the project's rule; Google documents only that DST can make jobs run or not run unexpectedly)`;
    case "EventBridge Scheduler":
      return `${what} (AWS: a skipped time is skipped, a repeated time runs once)`;
    case "pg_cron":
      return `${what} (its in-database check follows the project's rule)`;
  }
}
