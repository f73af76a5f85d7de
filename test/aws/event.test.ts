import { describe, expect, it } from "vitest";
import { ScheduledTaskError } from "../../functions/core/errors.js";
import { parseEvent, scheduleInput, scheduleNameIn, tickEventFields } from "../../functions/aws/event.js";

const groupArn = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/scheduled-jobs";
const scheduleArn = "arn:aws:scheduler:eu-west-1:123456789012:schedule/scheduled-jobs/archive-old-orders";

/** What the scheduler puts in the event: the template with every placeholder substituted. */
function substituted(task: string, values: Record<string, string>): unknown {
  let text = scheduleInput(task);
  for (const [placeholder, value] of Object.entries(values)) text = text.replace(placeholder, value);
  return JSON.parse(text);
}

const tick = substituted("archive-old-orders", {
  "<aws.scheduler.scheduled-time>": "2026-12-06T03:00:00Z",
  "<aws.scheduler.schedule-arn>": scheduleArn,
  "<aws.scheduler.attempt-number>": "1",
  "<aws.scheduler.execution-id>": "d32c5kddcf5bb8c3",
}) as Record<string, unknown>;

function refusal(raw: unknown): string {
  try {
    parseEvent(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ScheduledTaskError);
    expect((error as ScheduledTaskError).code).toBe("bad_request");
    return (error as Error).message;
  }
  throw new Error("the event was accepted");
}

describe("the schedule's input template", () => {
  it("when a task's template is built, then it is one line of valid JSON with the five keys, each placeholder quoted", () => {
    const text = scheduleInput("archive-old-orders");
    expect(text).toBe(
      '{"task":"archive-old-orders","scheduledTime":"<aws.scheduler.scheduled-time>","scheduleArn":"<aws.scheduler.schedule-arn>","attemptNumber":"<aws.scheduler.attempt-number>","executionId":"<aws.scheduler.execution-id>"}',
    );
    expect(Object.keys(JSON.parse(text) as object)).toEqual(tickEventFields);
  });
});

describe("parseEvent", () => {
  it("when the substituted template arrives, then it is a tick with its time, arn, attempt and id", () => {
    expect(parseEvent(tick)).toEqual({
      kind: "tick",
      task: "archive-old-orders",
      scheduledTime: new Date("2026-12-06T03:00:00Z"),
      scheduleArn,
      attemptNumber: 1,
      executionId: "d32c5kddcf5bb8c3",
    });
  });

  it("when a synchronous invoke names a task, then it is a manual run request with the switches off unless set", () => {
    expect(parseEvent({ task: "archive-old-orders" })).toEqual({
      kind: "invoke",
      task: "archive-old-orders",
      dryRun: false,
      force: false,
    });
    expect(parseEvent({ task: "x", dryRun: true, force: true })).toMatchObject({ dryRun: true, force: true });
  });

  it("when a tick lacks a field or carries another, then it is refused naming them", () => {
    const { executionId: _dropped, ...missing } = tick;
    expect(refusal(missing)).toMatch(/missing executionId/);
    expect(refusal({ ...tick, dryRun: true })).toMatch(/unknown "dryRun"/);
  });

  it("when a tick's field has the wrong type or an impossible value, then it is refused", () => {
    expect(refusal({ ...tick, attemptNumber: 1 })).toMatch(/attemptNumber must be a non-empty string/);
    expect(refusal({ ...tick, attemptNumber: "0" })).toMatch(/attemptNumber/);
    expect(refusal({ ...tick, attemptNumber: "1.5" })).toMatch(/attemptNumber/);
    expect(refusal({ ...tick, scheduledTime: "2026-02-30T03:00:00Z" })).toMatch(/scheduledTime/);
    expect(refusal({ ...tick, scheduledTime: "yesterday" })).toMatch(/scheduledTime/);
    expect(refusal({ ...tick, scheduleArn: "arn:aws:lambda:eu-west-1:123456789012:function:x" })).toMatch(
      /scheduleArn/,
    );
    expect(refusal({ ...tick, executionId: "with space" })).toMatch(/executionId/);
    expect(refusal({ ...tick, task: "" })).toMatch(/task must be/);
  });

  it("when a placeholder was not substituted, then the refusal says so", () => {
    expect(refusal({ ...tick, scheduledTime: "<aws.scheduler.scheduled-time>" })).toMatch(/placeholder/);
  });

  it("when an invoke payload is not a run request, then it is refused as Google's body is", () => {
    expect(refusal(null)).toMatch(/JSON object/);
    expect(refusal([{ task: "x" }])).toMatch(/JSON object/);
    expect(refusal("archive-old-orders")).toMatch(/JSON object/);
    expect(refusal({})).toMatch(/task is required/);
    expect(refusal({ task: "x", dryRun: "yes" })).toMatch(/dryRun must be true or false/);
    expect(refusal({ task: "x", tick: "2026-12-06T03:00:00Z" })).toMatch(/unknown field "tick"/);
  });
});

describe("scheduleNameIn", () => {
  it("when the schedule is in the group, then its name; otherwise undefined", () => {
    expect(scheduleNameIn(groupArn, scheduleArn)).toBe("archive-old-orders");
    expect(scheduleNameIn(groupArn, scheduleArn.replace("scheduled-jobs/", "other/"))).toBeUndefined();
    expect(scheduleNameIn(groupArn, scheduleArn.replace("123456789012", "210987654321"))).toBeUndefined();
    expect(scheduleNameIn(groupArn, scheduleArn.replace("eu-west-1", "us-east-1"))).toBeUndefined();
    expect(scheduleNameIn(groupArn, scheduleArn.replace("arn:aws:", "arn:aws-cn:"))).toBeUndefined();
    expect(scheduleNameIn("not an arn", scheduleArn)).toBeUndefined();
  });
});
