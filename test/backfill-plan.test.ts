/**
 * What a backfill would run, decided from a job's resolved schedule, a range and the history the
 * tick rules judge (the ticks that already succeeded): pure, with fixed instants (no clock is read). And the rule `--once` relies on:
 * a task declares `readsTick` exactly when its SQL or email handler reads `scheduler.tick()`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TaskDefinition } from "../functions/core/catalog.js";
import { readsTick, tasks } from "../functions/core/catalog.js";
import type { Job } from "../functions/core/schedule/jobs.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import type { TickHistory } from "../functions/core/schedule/tick-rules.js";
import { judgeTicks } from "../functions/core/schedule/tick-rules.js";
import { MAX_TICK_LIMIT, onceProblem, planBackfill, resumeCommand } from "../scripts/lib/backfill.js";
import { ROOT } from "../scripts/local/local-stack.js";

const { jobs } = resolveJobs(tasks, {
  overrides: { "cleanup-expired-sessions": { schedule: "30 */6 * * *", timeZone: "Europe/Paris" } },
});
const job = (name: string): Job => jobs.find((j) => j.name === name)!;
const at = (text: string) => new Date(text);
/** A history that began long ago, in which these ticks' own runs succeeded (a second after each). */
const succeeded = (...texts: string[]): TickHistory => ({
  historyBegins: at("1900-01-01T00:00:00Z"),
  runs: texts.map((text) => ({
    status: "succeeded" as const,
    scheduleTime: at(text),
    startedAt: new Date(at(text).getTime() + 1000),
  })),
});
/** The due ticks of [since, until], judged at `until`. */
const ticksBetween = (job: Job, since: Date, until: Date): Date[] =>
  judgeTicks(job, succeeded(), { since, until }, until).ticks.map((judged) => judged.tick);

describe("the ticks of a range", () => {
  it("when the range starts exactly on a tick, then that tick is in it (a resume starts there), and so is one exactly at its end", () => {
    const daily = job("generate-daily-stats");
    expect(ticksBetween(daily, at("2026-11-27T00:05:00Z"), at("2026-11-29T00:05:00Z"))).toEqual([
      at("2026-11-27T00:05:00Z"),
      at("2026-11-28T00:05:00Z"),
      at("2026-11-29T00:05:00Z"),
    ]);
    expect(ticksBetween(daily, at("2026-11-29T00:06:00Z"), at("2026-11-29T00:05:00Z"))).toEqual([]);
  });

  it("when the stack overrides the schedule and zone, then the ticks are the resolved job's", () => {
    // 00:30, 06:30, 12:30, 18:30 in Paris (UTC+1 in winter).
    expect(
      ticksBetween(job("cleanup-expired-sessions"), at("2026-11-29T00:00:00Z"), at("2026-11-29T12:00:00Z")),
    ).toEqual([at("2026-11-29T05:30:00Z"), at("2026-11-29T11:30:00Z")]);
  });
});

describe("planBackfill", () => {
  const daily = job("generate-daily-stats");
  const range = { since: at("2026-11-25T00:00:00Z"), until: at("2026-11-29T12:00:00Z") };

  it("when some ticks already succeeded, then only the others are run, oldest first", () => {
    const plan = planBackfill(daily, range, succeeded("2026-11-26T00:05:00Z", "2026-11-28T00:05:00Z"), {
      limit: 10,
      once: false,
      now: range.until,
    });
    expect(plan).toEqual({
      kind: "ticks",
      ticks: [at("2026-11-25T00:05:00Z"), at("2026-11-27T00:05:00Z"), at("2026-11-29T00:05:00Z")],
      done: 2,
      heldBack: [],
      countedFrom: range.since,
    });
  });

  it("when more ticks are missing than the limit, then it is refused, and a range of a century lists no more than it needs", () => {
    const minutely = job("auto-cancel-unconfirmed-orders");
    expect(planBackfill(daily, range, succeeded(), { limit: 4, once: false, now: range.until })).toEqual({
      kind: "too-many",
      atLeast: 5,
      limit: 4,
    });
    const started = performance.now();
    const plan = planBackfill(
      minutely,
      { since: at("1926-11-29T00:00:00Z"), until: at("2026-11-29T00:00:00Z") },
      succeeded(),
      { limit: 300, once: false, now: at("2026-11-29T00:00:00Z") },
    );
    expect(plan).toEqual({ kind: "too-many", atLeast: 301, limit: 300 });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("when --once, then one run for the latest tick of the range stands for the ticks not done since the last success; none when that tick already succeeded", () => {
    const minutely = job("auto-cancel-unconfirmed-orders");
    const hour = { since: at("2026-11-29T10:00:00Z"), until: at("2026-11-29T10:59:30Z") };
    const once = { limit: 5, once: true, now: hour.until };
    // The task does not read its tick: the 10:10 run did the work of 10:00 to 10:10 too. Of the
    // rest, 10:11 to 10:58 are missed and 10:59 is still in flight (30 s timeout, a minute of grace).
    expect(planBackfill(minutely, hour, succeeded("2026-11-29T10:10:00Z"), once)).toEqual({
      kind: "once",
      tick: at("2026-11-29T10:59:00Z"),
      missed: 49,
      countedAll: true,
      latest: "in-flight",
      done: 11,
      heldBack: [],
      countedFrom: hour.since,
    });
    expect(planBackfill(minutely, hour, succeeded("2026-11-29T10:59:00Z"), once)).toMatchObject({
      kind: "once",
      tick: undefined,
      latest: "succeeded",
    });
    const year = { since: at("2025-11-29T00:00:00Z"), until: at("2026-11-29T00:00:00Z") };
    expect(planBackfill(minutely, year, succeeded(), { ...once, now: year.until })).toMatchObject({
      tick: at("2026-11-29T00:00:00Z"),
      missed: MAX_TICK_LIMIT,
      countedAll: false,
    });
  });

  it("when a task reads its tick, then --once is refused with the reason; otherwise it is allowed", () => {
    expect(onceProblem(daily)).toMatch(/reads its tick .*each missed tick is its own work/);
    expect(onceProblem(job("auto-cancel-unconfirmed-orders"))).toBeUndefined();
  });

  it("when the resume command is printed, then an argument a shell would split is quoted", () => {
    expect(
      resumeCommand("npm run cli --", ["replay", "--task", "it's odd", "--since", "2026-11-29T00:05:00Z"]),
    ).toBe("npm run cli -- replay --task 'it'\\''s odd' --since 2026-11-29T00:05:00Z");
  });
});

describe("readsTick", () => {
  /** The email tasks' work functions, by task (functions/email/runtime.ts's table), and their files. */
  function emailSources(): Map<string, string> {
    const runtime = readFileSync(join(ROOT, "functions/email/runtime.ts"), "utf8");
    const table = /const workByTask[^{]*\{([^}]*)\}/.exec(runtime)![1]!;
    const files = readdirSync(join(ROOT, "functions/email")).map((name) =>
      readFileSync(join(ROOT, "functions/email", name), "utf8"),
    );
    const sources = new Map<string, string>();
    for (const [, task, work] of table.matchAll(/"([a-z-]+)":\s*(\w+)/g)) {
      const source = files.find((text) => new RegExp(`export async function ${work}\\b`).test(text));
      sources.set(task!, source!);
    }
    return sources;
  }

  it("when a task's SQL or email handler reads scheduler.tick(), then and only then the catalog says readsTick", () => {
    const email = emailSources();
    // An http task's code is the target's; its body carries the tick (scheduleTime) for it to read.
    const local = tasks.filter((task: TaskDefinition) => task.kind !== "http");
    const reading = local.filter((task) => {
      const source =
        task.kind === "sql"
          ? readFileSync(join(ROOT, "sql/tasks", `${task.name}.sql`), "utf8")
          : email.get(task.name);
      expect(source, task.name).toBeDefined();
      // A comment that mentions it is not a read.
      const code = source!.replace(/--[^\n]*|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, "");
      return code.includes("scheduler.tick()");
    });
    expect(reading.length).toBeGreaterThan(0);
    expect(local.filter((task: TaskDefinition) => readsTick(task)).map((t) => t.name)).toEqual(
      reading.map((t) => t.name),
    );
  });
});
