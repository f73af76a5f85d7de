/**
 * The rules a delivery is judged by, pure: Cloud Scheduler's unix-cron grammar, and whether a
 * delivery is a tick (a dedup slot) or a manual run, from one injected arrival time.
 */
import { describe, expect, it } from "vitest";
import { cronProblem, parseCron } from "../functions/core/schedule/cron-grammar.js";
import { isFireTime } from "../functions/core/schedule/fire-times.js";
import { deliveryOf } from "../functions/core/schedule/tick-rules.js";
import {
  classifyDelivery,
  SCHEDULE_TIME_SKEW_MS,
  scheduleTimeProblem,
} from "../functions/core/schedule/ticks.js";

describe("Cloud Scheduler's unix-cron grammar", () => {
  it.each([
    "* * * * *",
    "*/5 * * * *",
    "0 9 * * 1-5",
    "0 0-23/2 * * *",
    "15 3 1,15 * *",
    "0 0 * JAN-MAR MON",
    "0 0 * * 7",
    "30 2 29 2 *",
  ])("when the schedule is %s, then it is accepted", (schedule) => {
    expect(cronProblem(schedule)).toBeUndefined();
  });

  it.each([
    ["0 0 * * * *", /exactly five fields/],
    ["@daily", /exactly five fields/],
    ["", /exactly five fields/],
    ["0 0 L * *", /day of the month "L" is not a number/],
    ["0 0 ? * *", /"\?" is not a number/],
    ["0 0 * * MON#1", /"MON#1" is not a number/],
    ["0 0 15W * *", /"15W" is not a number/],
    ["60 * * * *", /minute 60 is outside 0-59/],
    ["0 24 * * *", /hour 24 is outside 0-23/],
    ["0 0 0 * *", /day of the month 0 is outside 1-31/],
    ["0 0 * 13 *", /month 13 is outside 1-12/],
    ["0 0 * * 8", /day of the week 8 is outside 0-7/],
    ["5/15 * * * *", /a step must follow \* or a range/],
    ["*/0 * * * *", /step "0" must be a whole number from 1/],
    ["10-5 * * * *", /runs backwards/],
    ["1,,2 * * * *", /empty list item/],
    ["0 0 * jan *", /"jan" is not a number or one of JAN-DEC/],
    ["0 0 31 2 *", /never fires/],
  ])("when the schedule is %s, then it is refused saying why", (schedule, message) => {
    expect(cronProblem(schedule)).toMatch(message);
  });

  it("when a schedule names 7 or SUN, then both mean Sunday", () => {
    const seven = parseCron("0 0 * * 7");
    const sun = parseCron("0 0 * * SUN");
    expect("fields" in seven && [...seven.fields.daysOfWeek]).toEqual([0]);
    expect("fields" in sun && [...sun.fields.daysOfWeek]).toEqual([0]);
  });
});

describe("a delivery: a tick or a manual run", () => {
  const daily = { name: "send-daily-vendor-reports", schedule: "0 7 * * *", timeZone: "UTC" };
  const arrival = new Date("2026-12-03T10:00:00Z");

  it("when the schedule time is a past tick of the job, then it is that tick (a retry dedups on it)", () => {
    const time = new Date("2026-12-03T07:00:00Z");
    expect(deliveryOf(daily, { jobName: daily.name, scheduleTime: time }, arrival)).toEqual({
      kind: "tick",
      scheduleTime: time,
      jobName: daily.name,
    });
  });

  it("when a console force run carries the next tick (tomorrow 07:00), then it is a manual run keeping that time", () => {
    const next = new Date("2026-12-04T07:00:00Z");
    const delivery = deliveryOf(daily, { jobName: daily.name, scheduleTime: next }, arrival);
    expect(delivery).toMatchObject({ kind: "manual", requestedScheduleTime: next });
  });

  it("when a force run names no schedule time, then it is a manual run", () => {
    expect(deliveryOf(daily, { jobName: daily.name }, arrival)).toMatchObject({
      kind: "manual",
      reason: "no schedule time",
    });
  });

  it("when the schedule time is not a tick of the job's schedule (in its zone), then it is a manual run", () => {
    expect(deliveryOf(daily, { scheduleTime: new Date("2026-12-03T08:00:00Z") }, arrival).kind).toBe(
      "manual",
    );
    const berlin = { ...daily, timeZone: "Europe/Berlin" };
    // 07:00 in Berlin in winter is 06:00 UTC: the UTC 07:00 is not its tick, 06:00 is.
    expect(deliveryOf(berlin, { scheduleTime: new Date("2026-12-03T07:00:00Z") }, arrival).kind).toBe(
      "manual",
    );
    expect(deliveryOf(berlin, { scheduleTime: new Date("2026-12-03T06:00:00Z") }, arrival).kind).toBe("tick");
  });

  it("when a tick arrives up to the documented skew before its time, then it is still the tick; beyond, a manual run", () => {
    const minutely = { name: "m", schedule: "* * * * *", timeZone: "UTC" };
    const tick = new Date("2026-12-03T10:01:00Z");
    const justBefore = new Date(tick.getTime() - SCHEDULE_TIME_SKEW_MS);
    const tooEarly = new Date(tick.getTime() - SCHEDULE_TIME_SKEW_MS - 1);
    expect(deliveryOf(minutely, { scheduleTime: tick }, justBefore).kind).toBe("tick");
    expect(deliveryOf(minutely, { scheduleTime: tick }, tooEarly).kind).toBe("manual");
  });

  it("when the schedule time is a year or more away from the arrival, then it is refused", () => {
    expect(scheduleTimeProblem(new Date("0000-01-01T00:00:00Z"), arrival)).toMatch(/more than a year/);
    expect(scheduleTimeProblem(new Date("9999-01-01T00:00:00Z"), arrival)).toMatch(/more than a year/);
    expect(scheduleTimeProblem(new Date("2027-12-05T00:00:00Z"), arrival)).toMatch(/more than a year/);
    expect(scheduleTimeProblem(new Date("2026-11-29T00:05:00Z"), arrival)).toBeUndefined();
  });

  it("when the classifier is asked without a schedule time, then it never needs the schedule", () => {
    const delivery = classifyDelivery({}, arrival, () => {
      throw new Error("no schedule time: no cron arithmetic");
    });
    expect(delivery.kind).toBe("manual");
  });

  it("when spring-forward skips a tick's wall time, then the instant it fires at is its tick", () => {
    // 02:30 in Berlin does not exist on 29 March 2026; the job fires at 03:00 CEST (01:00 UTC).
    const berlin = { name: "b", schedule: "30 2 * * *", timeZone: "Europe/Berlin" };
    expect(isFireTime(berlin, new Date("2026-03-29T01:00:00Z"))).toBe(true);
    expect(isFireTime(berlin, new Date("2026-03-30T00:30:00Z"))).toBe(true);
  });
});
