/**
 * `toAwsCron`: every schedule the project's unix-cron grammar accepts comes out in AWS's six-field
 * form meaning the same times, or is refused with its cause. The AWS side is read here by a small
 * reader of AWS's documented cron fields
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html), written
 * apart from the translation, and compared field by field with the grammar's own parse.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runnerOf, tasks } from "../../../functions/core/catalog.js";
import type { CronFields } from "../../../functions/core/schedule/cron-grammar.js";
import { parseCron } from "../../../functions/core/schedule/cron-grammar.js";
import { toAwsCron } from "../../../infra/aws/cron.js";

const AWS_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const AWS_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

/** One AWS cron field's values, "?" as undefined; day-of-week 1-7 from Sunday returned 0-6. */
function awsField(
  text: string,
  min: number,
  max: number,
  names?: readonly string[],
  base = min,
): Set<number> | undefined {
  if (text === "?") return undefined;
  const value = (item: string): number => {
    const index = names?.indexOf(item) ?? -1;
    if (index >= 0) return base + index;
    if (!/^\d+$/.test(item)) throw new Error(`not an AWS cron value: ${item}`);
    return Number(item);
  };
  const values = new Set<number>();
  for (const item of text.split(",")) {
    const [range, step] = item.split("/") as [string, string | undefined];
    let [from, to] = [min, max];
    if (range !== "*") {
      const bounds = range.split("-");
      from = value(bounds[0]!);
      to = bounds.length === 2 ? value(bounds[1]!) : step === undefined ? from : max;
    }
    for (let v = from; v <= to; v += step === undefined ? 1 : Number(step)) values.add(v);
  }
  for (const v of values) if (v < min || v > max) throw new Error(`${v} is outside ${min}-${max} in ${text}`);
  return values;
}

interface AwsFields {
  readonly minutes: Set<number>;
  readonly hours: Set<number>;
  readonly daysOfMonth: Set<number> | undefined;
  readonly months: Set<number>;
  /** 0-6 from Sunday. */
  readonly daysOfWeek: Set<number> | undefined;
}

function readAws(expression: string): AwsFields {
  const match = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/.exec(expression);
  if (!match) throw new Error(`not a six-field cron expression: ${expression}`);
  const [, minutes, hours, dom, months, dow, year] = match as unknown as string[];
  expect(year).toBe("*");
  // Exactly one of the day fields is "?" (the page's Limits).
  expect([dom, dow].filter((field) => field === "?")).toHaveLength(1);
  const weekdays = awsField(dow!, 1, 7, AWS_DAYS, 1);
  return {
    minutes: awsField(minutes!, 0, 59)!,
    hours: awsField(hours!, 0, 23)!,
    daysOfMonth: awsField(dom!, 1, 31),
    months: awsField(months!, 1, 12, AWS_MONTHS, 1)!,
    daysOfWeek: weekdays && new Set([...weekdays].map((day) => day - 1)),
  };
}

const all = (min: number, max: number) => new Set(Array.from({ length: max - min + 1 }, (_, i) => min + i));

/** The unix schedule's meaning, as the AWS fields must show it (one day field restricted, or none). */
function expectSameTimes(unix: CronFields, aws: AwsFields): void {
  expect(aws.minutes).toEqual(unix.minutes);
  expect(aws.hours).toEqual(unix.hours);
  expect(aws.months).toEqual(unix.months);
  if (unix.daysOfWeekRestricted) {
    expect(aws.daysOfMonth).toBeUndefined();
    expect(aws.daysOfWeek).toEqual(unix.daysOfWeek);
  } else {
    expect(aws.daysOfWeek).toBeUndefined();
    expect(aws.daysOfMonth).toEqual(unix.daysOfMonthRestricted ? unix.daysOfMonth : all(1, 31));
  }
}

function translated(schedule: string): string {
  const result = toAwsCron(schedule);
  if ("problem" in result) throw new Error(`${schedule} was refused: ${result.problem}`);
  return result.expression;
}

describe("toAwsCron", () => {
  it.each(tasks.filter((task) => runnerOf(task) === "cloud").map((task) => [task.name, task.schedule]))(
    "when the catalog's %s (%s) is translated, then AWS reads the same times",
    (_name, schedule) => {
      const parsed = parseCron(schedule);
      if ("problem" in parsed) throw new Error(parsed.problem);
      expectSameTimes(parsed.fields, readAws(translated(schedule)));
    },
  );

  it.each([
    ["* * * * *", "cron(* * * * ? *)"],
    ["*/5 * * * *", "cron(0/5 * * * ? *)"],
    ["0 3 * * 0", "cron(0 3 ? * SUN *)"],
    ["0 3 * * 7", "cron(0 3 ? * SUN *)"],
    ["0 9 * * 1-5", "cron(0 9 ? * MON-FRI *)"],
    ["0 9 * * MON-FRI", "cron(0 9 ? * MON-FRI *)"],
    ["0 9 * * 5-7", "cron(0 9 ? * SUN,FRI,SAT *)"],
    ["30 2 1 * *", "cron(30 2 1 * ? *)"],
    ["0 0-23/2 * * *", "cron(0 0-23/2 * * ? *)"],
    ["0 0 */10 * *", "cron(0 0 1/10 * ? *)"],
    ["0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"],
    ["15 4 * JAN,JUL *", "cron(15 4 * 1,7 ? *)"],
    ["0,15,30,45 * * * *", "cron(0,15,30,45 * * * ? *)"],
    ["0 8-10,14 * * *", "cron(0 8-10,14 * * ? *)"],
  ])("when %s is translated, then it is %s", (schedule, expression) => {
    expect(toAwsCron(schedule)).toEqual({ expression });
  });

  it.each([
    [
      "0 0 1 * 1",
      /restricts both the day of the month \("1"\) and the day of the week \("1"\).*either one matching/,
    ],
    ["0 0 */2 * MON", /restricts both/],
    ["0 0 * * * *", /must have exactly five fields/],
    ["0 0 31 2 *", /never fires/],
    ["0 0 L * *", /day of the month "L" is not a number/],
  ])("when %s is translated, then it is refused with the cause", (schedule, cause) => {
    const result = toAwsCron(schedule);
    expect("problem" in result && result.problem).toMatch(cause);
  });

  it("when any schedule of the grammar with at most one restricted day field is translated, then AWS reads the same times", () => {
    const item = (min: number, max: number) =>
      fc.oneof(
        fc.integer({ min, max }).map(String),
        fc
          .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
          .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
        fc.integer({ min: 1, max: max - min + 1 }).map((step) => `*/${step}`),
        fc
          .tuple(fc.integer({ min, max }), fc.integer({ min, max }), fc.integer({ min: 1, max: 9 }))
          .map(([a, b, step]) => `${Math.min(a, b)}-${Math.max(a, b)}/${step}`),
      );
    const field = (min: number, max: number) =>
      fc.oneof(
        fc.constant("*"),
        fc.array(item(min, max), { minLength: 1, maxLength: 3 }).map((items) => items.join(",")),
      );
    const schedule = fc
      .tuple(field(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 7), fc.boolean())
      .map(([minute, hour, dom, month, dow, byWeekday]) =>
        [minute, hour, byWeekday ? "*" : dom, month, byWeekday ? dow : "*"].join(" "),
      );
    fc.assert(
      fc.property(schedule, (text) => {
        const parsed = parseCron(text);
        fc.pre(!("problem" in parsed));
        if ("problem" in parsed) return;
        expectSameTimes(parsed.fields, readAws(translated(text)));
      }),
      { numRuns: 400 },
    );
  });
});
