/**
 * The tick rules, pure, at fixed instants: when a tick is settled, which ticks are succeeded,
 * repaired, held back by a pause, uncounted, in flight or missed, and when a task is overdue.
 */
import { describe, expect, it } from "vitest";
import type { RunTimePause, TickHistory, TickJob, TickRun } from "../functions/core/schedule/tick-rules.js";
import {
  isOverdue,
  isPausedAt,
  judgeTicks,
  latestSettledTick,
  pauseEnd,
  settleMs,
  tickJudge,
  ticksIn,
} from "../functions/core/schedule/tick-rules.js";

const at = (text: string) => new Date(text);
/** Hourly at :00, a 2-minute timeout: a tick is settled 3 minutes after it. */
const hourly: TickJob = {
  name: "hourly",
  schedule: "0 * * * *",
  timeZone: "UTC",
  paused: false,
  timeoutSeconds: 120,
};
/** The same, but each tick is work of its own (a day's stats, a day's report). */
const ownTick: TickJob = { ...hourly, name: "own-tick", readsTick: true };
const LONG_AGO = at("2026-01-01T00:00:00Z");

const run = (status: TickRun["status"], scheduleTime: string | null, startedAt: string): TickRun => ({
  status,
  scheduleTime: scheduleTime === null ? null : at(scheduleTime),
  startedAt: at(startedAt),
});
const history = (runs: TickRun[], extra: Partial<TickHistory> = {}): TickHistory => ({
  historyBegins: LONG_AGO,
  runs,
  ...extra,
});
const pause = (pausedAt: string, ends: { until?: string; resumedAt?: string } = {}): RunTimePause => ({
  task: "hourly",
  reason: "stats table rebuild",
  pausedBy: "alice",
  pausedAt: at(pausedAt),
  until: ends.until ? at(ends.until) : null,
  resumedAt: ends.resumedAt ? at(ends.resumedAt) : null,
  resumedBy: ends.resumedAt ? "bob" : null,
});

describe("settled", () => {
  it("when the attempt deadline is longer than the timeout, then a tick settles after the deadline and a minute", () => {
    expect(settleMs(hourly)).toBe(180_000);
    expect(settleMs({ ...hourly, attemptDeadlineSeconds: 600 })).toBe(660_000);
  });

  it("when a tick is within its settle time, then the latest settled tick is the one before it", () => {
    expect(latestSettledTick(hourly, at("2026-11-29T10:02:59Z"))).toEqual(at("2026-11-29T09:00:00Z"));
    expect(latestSettledTick(hourly, at("2026-11-29T10:03:00Z"))).toEqual(at("2026-11-29T10:00:00Z"));
  });
});

describe("the state of a tick", () => {
  const now = at("2026-11-29T12:30:00Z");
  const stateOf = (job: TickJob, facts: TickHistory, tick: string) => tickJudge(job, facts, now)(at(tick));

  it("when its own run succeeded, then succeeded; when only a failed run holds it, then missed", () => {
    const facts = history([
      run("succeeded", "2026-11-29T10:00:00Z", "2026-11-29T10:00:01Z"),
      run("failed", "2026-11-29T11:00:00Z", "2026-11-29T11:00:01Z"),
    ]);
    expect(stateOf(ownTick, facts, "2026-11-29T10:00:00Z")).toBe("succeeded");
    expect(stateOf(ownTick, facts, "2026-11-29T11:00:00Z")).toBe("missed");
  });

  it("when a task reads its tick, then a manual run repairs the latest tick at or before its start, and no other", () => {
    const facts = history([run("succeeded", null, "2026-11-29T11:20:00Z")]);
    expect(stateOf(ownTick, facts, "2026-11-29T11:00:00Z")).toBe("repaired");
    expect(stateOf(ownTick, facts, "2026-11-29T10:00:00Z")).toBe("missed");
    expect(stateOf(ownTick, facts, "2026-11-29T12:00:00Z")).toBe("missed");
  });

  it("when a task does not read its tick, then a success standing for a later tick or a later start did its work", () => {
    const facts = history([
      run("failed", "2026-11-29T10:00:00Z", "2026-11-29T10:00:01Z"),
      run("succeeded", "2026-11-29T11:00:00Z", "2026-11-29T11:00:01Z"),
    ]);
    expect(stateOf(hourly, facts, "2026-11-29T10:00:00Z")).toBe("repaired");
    expect(stateOf(hourly, facts, "2026-11-29T12:00:00Z")).toBe("missed");
    const manual = history([run("succeeded", null, "2026-11-29T11:20:00Z")]);
    expect(stateOf(hourly, manual, "2026-11-29T09:00:00Z")).toBe("repaired");
  });

  it("when a run starts after `now`, then it repairs nothing yet", () => {
    const facts = history([run("succeeded", null, "2026-11-29T12:45:00Z")]);
    expect(stateOf(hourly, facts, "2026-11-29T11:00:00Z")).toBe("missed");
  });

  it("when a run-time pause was in force at a tick, then it is held back, ended or not; outside it, not", () => {
    const ended = history([], {
      pause: pause("2026-11-29T09:30:00Z", { resumedAt: "2026-11-29T11:00:00Z" }),
    });
    expect(stateOf(hourly, ended, "2026-11-29T10:00:00Z")).toBe("held-back");
    // The end is not in the pause: the tick at the instant it was resumed runs.
    expect(stateOf(hourly, ended, "2026-11-29T11:00:00Z")).toBe("missed");
    expect(stateOf(hourly, ended, "2026-11-29T09:00:00Z")).toBe("missed");
    const running = history([], { pause: pause("2026-11-29T09:30:00Z") });
    expect(stateOf(hourly, running, "2026-11-29T12:00:00Z")).toBe("held-back");
  });

  it("when a tick's run was recorded paused, then it is held back even if that pause was replaced since", () => {
    const facts = history([run("paused", "2026-11-29T08:00:00Z", "2026-11-29T08:00:01Z")], {
      pause: pause("2026-11-29T11:30:00Z", { until: "2026-11-29T11:45:00Z" }),
    });
    expect(stateOf(hourly, facts, "2026-11-29T08:00:00Z")).toBe("held-back");
  });

  it("when the stack's config pauses the job, then every tick is held back", () => {
    expect(stateOf({ ...hourly, paused: true }, history([]), "2026-11-29T11:00:00Z")).toBe("held-back");
  });

  it("when a tick came before the history began, then it is uncounted; a run of an earlier tick of the task counts from that tick", () => {
    const begins = { historyBegins: at("2026-11-29T10:30:00Z") };
    expect(stateOf(hourly, history([], begins), "2026-11-29T10:00:00Z")).toBe("uncounted");
    expect(stateOf(hourly, history([], begins), "2026-11-29T11:00:00Z")).toBe("missed");
    // A backfill tried the 09:00 tick after the history began: the task's ticks count from it.
    const tried = history([run("failed", "2026-11-29T09:00:00Z", "2026-11-29T11:10:00Z")], begins);
    expect(stateOf(hourly, tried, "2026-11-29T08:00:00Z")).toBe("uncounted");
    expect(stateOf(hourly, tried, "2026-11-29T09:00:00Z")).toBe("missed");
    expect(stateOf(hourly, tried, "2026-11-29T10:00:00Z")).toBe("missed");
  });

  it("when a tick is not settled yet, then it is in flight, not missed", () => {
    const justAfter = tickJudge(hourly, history([]), at("2026-11-29T12:02:00Z"));
    expect(justAfter(at("2026-11-29T12:00:00Z"))).toBe("in-flight");
    expect(justAfter(at("2026-11-29T11:00:00Z"))).toBe("missed");
  });
});

describe("a pause's window", () => {
  it("when it has both an until and a resume, then it ends at the earlier", () => {
    const both = pause("2026-11-29T09:00:00Z", {
      until: "2026-11-29T12:00:00Z",
      resumedAt: "2026-11-29T10:00:00Z",
    });
    expect(pauseEnd(both)).toEqual(at("2026-11-29T10:00:00Z"));
    expect(isPausedAt(both, at("2026-11-29T09:59:59Z"))).toBe(true);
    expect(isPausedAt(both, at("2026-11-29T10:00:00Z"))).toBe(false);
    expect(pauseEnd(pause("2026-11-29T09:00:00Z"))).toBeNull();
  });
});

describe("overdue", () => {
  const now = at("2026-11-29T12:30:00Z");

  it("when the latest settled tick is missed, then overdue; succeeded or repaired, then not", () => {
    expect(isOverdue(hourly, history([]), now)).toBe(true);
    const own = history([run("succeeded", "2026-11-29T12:00:00Z", "2026-11-29T12:00:01Z")]);
    expect(isOverdue(hourly, own, now)).toBe(false);
    const manual = history([run("succeeded", null, "2026-11-29T12:10:00Z")]);
    expect(isOverdue(ownTick, manual, now)).toBe(false);
  });

  it("when the latest tick is still in flight, then the one before it decides", () => {
    const facts = history([run("succeeded", "2026-11-29T11:00:00Z", "2026-11-29T11:00:01Z")]);
    expect(isOverdue(ownTick, facts, at("2026-11-29T12:02:00Z"))).toBe(false);
    expect(isOverdue(ownTick, facts, at("2026-11-29T12:03:00Z"))).toBe(true);
  });

  it("when paused now, or when the latest settled tick was held back, then not overdue; the first tick missed after the pause is", () => {
    expect(isOverdue(hourly, history([], { pause: pause("2026-11-29T11:30:00Z") }), now)).toBe(false);
    const ended = history([], {
      pause: pause("2026-11-29T11:30:00Z", { resumedAt: "2026-11-29T12:20:00Z" }),
    });
    expect(isOverdue(hourly, ended, now)).toBe(false);
    expect(isOverdue(hourly, ended, at("2026-11-29T13:03:00Z"))).toBe(true);
  });

  it("when the history is empty or began after the latest settled tick, then not overdue", () => {
    expect(isOverdue(hourly, history([], { historyBegins: null }), now)).toBe(false);
    expect(isOverdue(hourly, history([], { historyBegins: at("2026-11-29T12:10:00Z") }), now)).toBe(false);
  });
});

describe("a range of ticks", () => {
  it("when judged, then every due tick of [since, until] is listed with its state, oldest first, up to now", () => {
    const facts = history([run("succeeded", "2026-11-29T10:00:00Z", "2026-11-29T10:00:01Z")], {
      pause: pause("2026-11-29T10:30:00Z", { resumedAt: "2026-11-29T11:30:00Z" }),
    });
    const range = { since: at("2026-11-29T09:00:00Z"), until: at("2026-11-29T23:00:00Z") };
    const judged = judgeTicks(ownTick, facts, range, at("2026-11-29T12:01:00Z"));
    expect(judged.ticks.map((t) => [t.tick.toISOString().slice(11, 16), t.state])).toEqual([
      ["09:00", "missed"],
      ["10:00", "succeeded"],
      ["11:00", "held-back"],
      ["12:00", "in-flight"],
    ]);
    expect(ticksIn(judged, "missed", "in-flight")).toEqual([
      at("2026-11-29T09:00:00Z"),
      at("2026-11-29T12:00:00Z"),
    ]);
  });

  it("when more ticks are missed than asked for, then the walk stops one past it and says so", () => {
    const minutely: TickJob = { ...hourly, schedule: "* * * * *" };
    const judged = judgeTicks(
      minutely,
      history([]),
      { since: at("2000-01-01T00:00:00Z"), until: at("2026-11-29T12:00:00Z") },
      at("2026-11-29T12:00:00Z"),
      300,
    );
    expect(judged.cut).toBe(true);
    expect(ticksIn(judged, "missed")).toHaveLength(301);
  });
});
