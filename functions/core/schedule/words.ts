/**
 * A schedule in words, from the one cron grammar's reading of it (functions/core/schedule/
 * cron-grammar.ts): the common shapes said plainly, anything else left as its cron.
 */
import type { CronFields } from "./cron-grammar.js";
import { parseCron } from "./cron-grammar.js";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const two = (n: number): string => String(n).padStart(2, "0");
const sorted = (values: ReadonlySet<number>): number[] => [...values].sort((a, b) => a - b);

/** The step of a set that is every n-th value from 0 of `size` values, or undefined. */
function everyNth(values: ReadonlySet<number>, size: number): number | undefined {
  const list = sorted(values);
  if (list.length < 2 || list[0] !== 0) return undefined;
  const step = list[1]!;
  const regular =
    list.every((value, index) => value === index * step) && list.length === Math.ceil(size / step);
  return regular ? step : undefined;
}

function times(fields: CronFields): string | undefined {
  const minutes = sorted(fields.minutes);
  const hours = sorted(fields.hours);
  if (fields.hours.size === 24) {
    if (fields.minutes.size === 60) return "every minute";
    const step = everyNth(fields.minutes, 60);
    if (step) return `every ${step} minutes`;
    if (minutes.length === 1) return minutes[0] === 0 ? "hourly" : `hourly at :${two(minutes[0]!)}`;
    return undefined;
  }
  if (minutes.length * hours.length > 4) return undefined;
  return `at ${hours.flatMap((h) => minutes.map((m) => `${two(h)}:${two(m)}`)).join(", ")}`;
}

function days(fields: CronFields): string | undefined {
  const { daysOfMonthRestricted: byMonthDay, daysOfWeekRestricted: byWeekday } = fields;
  const months =
    fields.months.size === 12
      ? ""
      : ` in ${sorted(fields.months)
          .map((m) => MONTHS[m - 1])
          .join(", ")}`;
  if (!byMonthDay && !byWeekday) return `daily${months}`;
  if (byMonthDay && byWeekday) return undefined;
  if (byWeekday) {
    const list = sorted(fields.daysOfWeek);
    if (list.join() === "1,2,3,4,5") return `on weekdays${months}`;
    return `on ${list.map((d) => `${DAYS[d]}s`).join(", ")}${months}`;
  }
  return `on day ${sorted(fields.daysOfMonth).join(", ")} of the month${months}`;
}

/**
 * "daily at 02:30", "every 15 minutes", "on Sundays at 04:00"; the cron itself when no shape fits.
 * With a zone, a time of day names it ("daily at 02:30 Europe/Berlin").
 */
export function scheduleInWords(schedule: string, timeZone?: string): string {
  const parsed = parseCron(schedule);
  if ("problem" in parsed) return schedule;
  const { fields } = parsed;
  const when = times(fields);
  const on = days(fields);
  if (!when || !on) return schedule;
  if (fields.hours.size === 24) return on === "daily" ? when : `${when}, ${on}`;
  const zone = timeZone ? ` ${timeZone}` : "";
  return on === "daily" ? `daily ${when}${zone}` : `${on} ${when}${zone}`;
}

/** Whether the schedule fires at most once a day: one minute of one hour. */
export function firesOnceADay(schedule: string): boolean {
  const parsed = parseCron(schedule);
  return !("problem" in parsed) && parsed.fields.minutes.size === 1 && parsed.fields.hours.size === 1;
}
