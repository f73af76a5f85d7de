/**
 * The unix-cron grammar Cloud Scheduler documents, and nothing more: five fields (minute, hour,
 * day of the month, month, day of the week); `*`, a number, a range `a-b`, a step after `*` or a
 * range (`*\/5`, `0-23/2`), and lists of those; months JAN-DEC, days SUN-SAT, 7 for Sunday.
 * https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules
 *
 * Cron libraries accept more (croner takes seconds, `L`, `W`, `#`, `?` and nicknames); a schedule
 * that only they accept deploys nowhere, so the catalog test, the stack config and the function's
 * TASK_OVERRIDES all check schedules here. Dependency-free, like the catalog.
 */

interface FieldGrammar {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Upper-case names, the first standing for `min` (Cloud Scheduler documents them upper case). */
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldGrammar[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of the month", min: 1, max: 31 },
  {
    name: "month",
    min: 1,
    max: 12,
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  // 7 is Sunday as well as 0.
  { name: "day of the week", min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

/** The values each field allows, from a schedule that parsed. */
export interface CronFields {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0-6, Sunday 0 (a 7 is stored as 0). */
  readonly daysOfWeek: ReadonlySet<number>;
  /** Whether the day fields were restricted (both restricted: a day matching either fires, as in cron). */
  readonly daysOfMonthRestricted: boolean;
  readonly daysOfWeekRestricted: boolean;
}

type CronParse = { readonly fields: CronFields } | { readonly problem: string };

function parseValue(text: string, field: FieldGrammar): number | string {
  if (/^\d{1,2}$/.test(text)) {
    const value = Number(text);
    return value >= field.min && value <= field.max
      ? value
      : `${field.name} ${text} is outside ${field.min}-${field.max}`;
  }
  const index = field.names?.indexOf(text) ?? -1;
  if (index >= 0) return field.min + index;
  return field.names
    ? `${field.name} "${text}" is not a number or one of ${field.names[0]}-${field.names[field.names.length - 1]}`
    : `${field.name} "${text}" is not a number`;
}

function parseField(text: string, field: FieldGrammar): { values: Set<number>; all: boolean } | string {
  const values = new Set<number>();
  let all = false;
  for (const item of text.split(",")) {
    if (item === "") return `${field.name} "${text}" has an empty list item`;
    const slash = item.split("/");
    if (slash.length > 2) return `${field.name} "${item}" has more than one step`;
    const [range, stepText] = slash as [string, string | undefined];
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,2}$/.test(stepText) || Number(stepText) < 1) {
        return `${field.name} step "${stepText}" must be a whole number from 1`;
      }
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === "*") {
      from = field.min;
      to = field.max;
      if (stepText === undefined) all = true;
    } else {
      const bounds = range.split("-");
      if (bounds.length > 2) return `${field.name} "${range}" is not a range of two values`;
      const first = parseValue(bounds[0]!, field);
      if (typeof first === "string") return first;
      if (bounds.length === 1) {
        // A step follows `*` or a range only (`5/15` is not in Cloud Scheduler's grammar).
        if (stepText !== undefined) return `${field.name} "${item}": a step must follow * or a range`;
        from = first;
        to = first;
      } else {
        const last = parseValue(bounds[1]!, field);
        if (typeof last === "string") return last;
        if (last < first) return `${field.name} range "${range}" runs backwards`;
        from = first;
        to = last;
      }
    }
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return { values, all };
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** Parses a schedule in Cloud Scheduler's unix-cron grammar, or says precisely what is wrong. */
export function parseCron(schedule: string): CronParse {
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === "") {
    return {
      problem: `must have exactly five fields (minute hour day-of-month month day-of-week), as Cloud Scheduler's unix-cron takes; it has ${parts[0] === "" ? 0 : parts.length}`,
    };
  }
  const parsed: { values: Set<number>; all: boolean }[] = [];
  for (const [index, part] of parts.entries()) {
    const field = parseField(part, FIELDS[index]!);
    if (typeof field === "string") return { problem: field };
    parsed.push(field);
  }
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = parsed as [
    (typeof parsed)[0],
    (typeof parsed)[0],
    (typeof parsed)[0],
    (typeof parsed)[0],
    (typeof parsed)[0],
  ];
  const weekdays = new Set([...daysOfWeek.values].map((day) => day % 7));
  const fields: CronFields = {
    minutes: minutes.values,
    hours: hours.values,
    daysOfMonth: daysOfMonth.values,
    months: months.values,
    daysOfWeek: weekdays,
    daysOfMonthRestricted: !daysOfMonth.all,
    daysOfWeekRestricted: !daysOfWeek.all,
  };
  // "0 0 31 2 *" parses but never fires: a job that never runs is a mistake, not a schedule.
  const dayOfMonthOnly = fields.daysOfMonthRestricted && !fields.daysOfWeekRestricted;
  if (
    dayOfMonthOnly &&
    ![...fields.months].some((month) =>
      [...fields.daysOfMonth].some((day) => day <= DAYS_IN_MONTH[month - 1]!),
    )
  ) {
    return { problem: "never fires: no month of it has that day" };
  }
  return { fields };
}

/** What is wrong with a schedule, or undefined when Cloud Scheduler takes it. */
export function cronProblem(schedule: string): string | undefined {
  const parsed = parseCron(schedule);
  return "problem" in parsed ? parsed.problem : undefined;
}
