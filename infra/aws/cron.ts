/**
 * The project's unix-cron schedules (functions/core/schedule/cron-grammar.ts, the one grammar the
 * catalog and every stack accept) in EventBridge Scheduler's six-field cron form,
 * `cron(minutes hours day-of-month month day-of-week year)`
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html, which the
 * scheduler's own guide points to for its cron syntax):
 * - exactly one of day-of-month and day-of-week is `?` ("any"): AWS refuses `*` in both;
 * - day-of-week counts 1-7 from Sunday where unix-cron counts 0-6 (and 7) from Sunday, so it is
 *   written with AWS's day names (SUN-SAT), which mean the same on both sides;
 * - a step runs from the field's first value: `*\/n` is `0/n` (`1/n` for days and months), and a
 *   range with a step keeps its range, `a-b/n`;
 * - the year is `*`.
 * unix-cron fires when either day field matches once both are restricted ("0 0 1 * MON" is the 1st
 * of the month and every Monday); AWS has no way to say "or", so such a schedule is refused with
 * that cause, as is anything else AWS cannot express.
 *
 * Pure and dependency-free but for the grammar: the stack's config checks every schedule with it.
 */
import type { CronFields } from "../../functions/core/schedule/cron-grammar.js";
import { parseCron } from "../../functions/core/schedule/cron-grammar.js";

type AwsCron = { readonly expression: string } | { readonly problem: string };

/** AWS's day names, index 0 for Sunday as in unix-cron's numbers. */
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const;

/** A field's AWS text from its unix text and its parsed values; `first` is the field's first value. */
function field(text: string, values: ReadonlySet<number>, first: number): string {
  if (text === "*") return "*";
  const step = /^(\*|\d+-\d+)\/(\d+)$/.exec(text);
  if (step) return step[1] === "*" ? `${first}/${step[2]}` : text;
  return compact([...values]).join(",");
}

/** Sorted values as AWS list items, consecutive runs of three or more as ranges. */
function compact(values: readonly number[], name: (value: number) => string = String): string[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const items: string[] = [];
  for (let start = 0; start < sorted.length;) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end]! + 1) end += 1;
    if (end - start >= 2) items.push(`${name(sorted[start]!)}-${name(sorted[end]!)}`);
    else for (let index = start; index <= end; index += 1) items.push(name(sorted[index]!));
    start = end + 1;
  }
  return items;
}

function dayFields(parts: readonly string[], fields: CronFields): [string, string] | string {
  const [, , dayOfMonth, , dayOfWeek] = parts as [string, string, string, string, string];
  if (fields.daysOfMonthRestricted && fields.daysOfWeekRestricted) {
    return `restricts both the day of the month ("${dayOfMonth}") and the day of the week ("${dayOfWeek}"), which unix-cron reads as either one matching; AWS cron restricts one of the two only (the other is "?"): restrict one, or split the task's schedule in two`;
  }
  if (!fields.daysOfWeekRestricted) return [field(dayOfMonth, fields.daysOfMonth, 1), "?"];
  const names = compact([...fields.daysOfWeek], (day) => DAY_NAMES[day]!);
  return ["?", names.join(",")];
}

/** The schedule in AWS's cron form, or what AWS cannot express (or the grammar refuses) in it. */
export function toAwsCron(schedule: string): AwsCron {
  const parsed = parseCron(schedule);
  if ("problem" in parsed) return { problem: parsed.problem };
  const { fields } = parsed;
  const parts = schedule.trim().split(/\s+/);
  const days = dayFields(parts, fields);
  if (typeof days === "string") return { problem: days };
  const minutes = field(parts[0]!, fields.minutes, 0);
  const hours = field(parts[1]!, fields.hours, 0);
  const months = field(parts[3]!, fields.months, 1);
  return { expression: `cron(${minutes} ${hours} ${days[0]} ${months} ${days[1]} *)` };
}
