/**
 * Cron arithmetic on a job's resolved schedule and zone: its fire times, and whether an instant is
 * one of them. The function imports this module (through tick-rules.ts) only when a request needs
 * it (a scheduled delivery, /health, the overdue alert), the local scheduler and the CLI always:
 * one reading of a schedule for all of them. It imports no rule about ticks: those ask it.
 *
 * Wall-clock cron in the job's zone, as Cloud Scheduler reads it: a time that a spring-forward
 * skips fires at the first instant after the gap, a time that a fall-back repeats fires once, at
 * its first occurrence. Google documents that DST may make jobs run "unexpectedly" and recommends
 * UTC (https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules).
 */
import { Cron } from "croner";
import { cronProblem } from "./cron-grammar.js";
import { isTimeZone } from "./jobs.js";

/** What cron arithmetic needs of a job. */
export interface Scheduled {
  readonly name: string;
  readonly schedule: string;
  readonly timeZone: string;
}

/**
 * Croner instances by zone and schedule, checked and built once: every scheduled delivery asks
 * whether its time is a tick, and building an instance costs more than the answer (BENCHMARKS.md,
 * "warm POST": a tick's POST). An instance is paused and has no run limit, so with a date given its answers depend on
 * nothing else. Bounded, for processes that read many schedules (tests, the CLI on overrides).
 */
const crons = new Map<string, Cron>();
const MAX_CACHED_CRONS = 256;

/**
 * A UTC schedule is read at a fixed offset of zero (croner's `utcOffset` option: no daylight saving
 * to take care of, which UTC has none of) instead of through the zone's rules: the same fire times
 * (a test holds them equal), an order of magnitude faster, since croner computes a named zone's
 * offsets through Intl on every step. Every task runs in UTC unless
 * the catalog or an override says otherwise. https://github.com/Hexagon/croner#options
 */
function zoneOptions(timeZone: string): { timezone: string } | { utcOffset: number } {
  return timeZone === "UTC" ? { utcOffset: 0 } : { timezone: timeZone };
}

/**
 * The job's croner instance, shared: module-private, so that it is only ever asked for fire times
 * with a date given. Throws a message naming the job when its schedule or zone is not valid.
 */
function cronOf(job: Scheduled): Cron {
  const key = `${job.timeZone}\n${job.schedule}`;
  const cached = crons.get(key);
  if (cached) return cached;
  // croner accepts any zone name and fails later, and more syntax than Cloud Scheduler does.
  if (!isTimeZone(job.timeZone))
    throw new Error(`${job.name}: time zone "${job.timeZone}" is not an IANA time zone`);
  const problem = cronProblem(job.schedule);
  if (problem) throw new Error(`${job.name}: schedule "${job.schedule}" ${problem}`);
  const cron = new Cron(job.schedule, { ...zoneOptions(job.timeZone), paused: true });
  if (crons.size >= MAX_CACHED_CRONS) crons.clear();
  crons.set(key, cron);
  return cron;
}

/** The next `count` fire times strictly after `after`. */
export function nextFireTimes(job: Scheduled, after: Date, count: number): Date[] {
  return cronOf(job).nextRuns(count, after);
}

/** The next fire time strictly after `after`, or undefined. */
export function nextFireTime(job: Scheduled, after: Date): Date | undefined {
  return cronOf(job).nextRun(after) ?? undefined;
}

/** The latest fire time at or before `atOrBefore`, or undefined. */
export function previousFireTime(job: Scheduled, atOrBefore: Date): Date | undefined {
  // croner's previousRuns are strictly before the reference.
  return cronOf(job).previousRuns(1, new Date(atOrBefore.getTime() + 1))[0];
}

/** Every fire time in (from, to], oldest first, at most `limit` of them. */
export function fireTimesBetween(job: Scheduled, from: Date, to: Date, limit = 10_000): Date[] {
  const cron = cronOf(job);
  const times: Date[] = [];
  let cursor = from;
  while (times.length < limit) {
    const next = cron.nextRun(cursor);
    if (!next || next.getTime() > to.getTime()) break;
    times.push(next);
    cursor = next;
  }
  return times;
}

/** Whether `time` is exactly one of the job's fire times (to the millisecond). */
export function isFireTime(job: Scheduled, time: Date): boolean {
  return (
    cronOf(job)
      .nextRun(new Date(time.getTime() - 1))
      ?.getTime() === time.getTime()
  );
}

/** The longest gap between two fire times over the next `sample` of them, in seconds. */
export function longestIntervalSeconds(job: Scheduled, from: Date, sample = 60): number {
  const runs = cronOf(job).nextRuns(sample, from);
  let longest = 0;
  for (let index = 1; index < runs.length; index++) {
    longest = Math.max(longest, (runs[index]!.getTime() - runs[index - 1]!.getTime()) / 1000);
  }
  return longest;
}
