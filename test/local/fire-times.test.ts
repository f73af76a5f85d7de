import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import {
  fireTimesBetween,
  isFireTime,
  nextFireTimes,
  previousFireTime,
} from "../../functions/core/schedule/fire-times.js";
import { loadStackJobs, readStackJobSettings, retryBackoffSeconds } from "../../scripts/lib/jobs.js";

const iso = (dates: Date[]) => dates.map((date) => date.toISOString());
const job = (schedule: string, timeZone: string) => ({ name: "t", schedule, timeZone });

describe("fire times", () => {
  it("when the schedule is every minute in UTC, then the next three are the next three minutes", () => {
    expect(iso(nextFireTimes(job("* * * * *", "UTC"), new Date("2026-11-29T04:00:30Z"), 3))).toEqual([
      "2026-11-29T04:01:00.000Z",
      "2026-11-29T04:02:00.000Z",
      "2026-11-29T04:03:00.000Z",
    ]);
  });

  it("when asked at a fire time exactly, then that time is not repeated", () => {
    expect(iso(nextFireTimes(job("5 0 * * *", "UTC"), new Date("2026-11-29T00:05:00Z"), 1))).toEqual([
      "2026-11-30T00:05:00.000Z",
    ]);
  });

  it("when the schedule is weekly on Sunday, then it fires on Sundays only", () => {
    const times = nextFireTimes(job("0 3 * * 0", "UTC"), new Date("2026-11-29T04:00:00Z"), 3);
    expect(iso(times)).toEqual([
      "2026-12-06T03:00:00.000Z",
      "2026-12-13T03:00:00.000Z",
      "2026-12-20T03:00:00.000Z",
    ]);
    expect(times.every((time) => time.getUTCDay() === 0)).toBe(true);
  });

  it("when a zone is given, then the cron is read on that zone's wall clock", () => {
    // 09:00 in Tokyo (UTC+9, no DST) is 00:00 UTC.
    expect(iso(nextFireTimes(job("0 9 * * *", "Asia/Tokyo"), new Date("2026-06-01T12:00:00Z"), 2))).toEqual([
      "2026-06-02T00:00:00.000Z",
      "2026-06-03T00:00:00.000Z",
    ]);
    // 09:00 in New York is 13:00 UTC in summer (EDT) and 14:00 UTC in winter (EST).
    expect(
      iso(nextFireTimes(job("0 9 * * *", "America/New_York"), new Date("2026-07-01T00:00:00Z"), 1)),
    ).toEqual(["2026-07-01T13:00:00.000Z"]);
    expect(
      iso(nextFireTimes(job("0 9 * * *", "America/New_York"), new Date("2026-12-01T00:00:00Z"), 1)),
    ).toEqual(["2026-12-01T14:00:00.000Z"]);
  });

  it("when spring-forward skips a daily time (New York, 02:30 on 8 March 2026), then it fires once, right after the gap", () => {
    expect(
      iso(nextFireTimes(job("30 2 * * *", "America/New_York"), new Date("2026-03-07T12:00:00Z"), 3)),
    ).toEqual([
      "2026-03-08T07:00:00.000Z", // 03:00 EDT: the first instant after the skipped hour
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
      "2026-03-10T06:30:00.000Z",
    ]);
  });

  it("when fall-back repeats a daily time (New York, 01:30 on 1 November 2026), then it fires once, at the first occurrence", () => {
    expect(
      iso(nextFireTimes(job("30 1 * * *", "America/New_York"), new Date("2026-10-31T12:00:00Z"), 2)),
    ).toEqual([
      "2026-11-01T05:30:00.000Z", // 01:30 EDT; 01:30 EST (06:30Z) does not fire
      "2026-11-02T06:30:00.000Z",
    ]);
  });

  it("when fall-back repeats the hour of an interval schedule, then it keeps firing every interval of real time", () => {
    const times = fireTimesBetween(
      job("*/30 * * * *", "America/New_York"),
      new Date("2026-11-01T04:50:00Z"),
      new Date("2026-11-01T07:00:00Z"),
    );
    expect(iso(times)).toEqual([
      "2026-11-01T05:00:00.000Z", // 01:00 EDT
      "2026-11-01T05:30:00.000Z", // 01:30 EDT
      "2026-11-01T06:00:00.000Z", // 01:00 EST
      "2026-11-01T06:30:00.000Z", // 01:30 EST
      "2026-11-01T07:00:00.000Z", // 02:00 EST
    ]);
  });

  it("when Europe's clocks change (Berlin), then 02:00 fires at 03:00 CEST in spring and once in autumn", () => {
    expect(
      iso(nextFireTimes(job("0 2 * * *", "Europe/Berlin"), new Date("2026-03-28T12:00:00Z"), 2)),
    ).toEqual(["2026-03-29T01:00:00.000Z", "2026-03-30T00:00:00.000Z"]);
    expect(
      iso(nextFireTimes(job("0 2 * * *", "Europe/Berlin"), new Date("2026-10-24T12:00:00Z"), 2)),
    ).toEqual(["2026-10-25T00:00:00.000Z", "2026-10-26T01:00:00.000Z"]);
  });

  it("when compared with croner around every 2026 DST change, for every catalog task in several zones, then every fire time agrees", () => {
    // March-April and October-November hold the northern and the southern hemispheres' changes.
    // Two days either side of each 2026 change: US 8 Mar / 1 Nov, EU 29 Mar / 25 Oct, Sydney 5 Apr / 4 Oct.
    const windows = ["2026-03-08", "2026-03-29", "2026-04-05", "2026-10-04", "2026-10-25", "2026-11-01"].map(
      (day) =>
        [new Date(Date.parse(day) - 2 * 86_400_000), new Date(Date.parse(day) + 2 * 86_400_000)] as const,
    );
    for (const task of tasks) {
      if (task.schedule.startsWith("*")) continue; // minute-level schedules: thousands of times, nothing new
      for (const timeZone of ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney"]) {
        for (const [from, to] of windows) {
          const ours = fireTimesBetween(job(task.schedule, timeZone), from, to, 100_000);
          const theirs = new Cron(task.schedule, { timezone: timeZone, paused: true }).nextRuns(
            ours.length + 1,
            from,
          );
          expect(iso(ours)).toEqual(iso(theirs.slice(0, ours.length)));
          expect(theirs[ours.length]!.getTime()).toBeGreaterThan(to.getTime());
        }
      }
    }
  });

  it("when a schedule is in UTC (read at a fixed offset of zero), then its fire times are croner's for the zone UTC", () => {
    const schedules = [
      ...new Set(tasks.map((task) => task.schedule)),
      "* * * * *",
      "*/7 * * * *",
      "0 0 29 2 *",
      "0 0 31 * *",
      "59 23 31 12 *",
      "15 3 * * 0,7",
      "0 12 1-7 * MON",
      "*/15 9-17 * * 1-5",
      "30 1 13 * FRI",
    ];
    const from = new Date("2027-12-30T22:58:30Z");
    for (const schedule of schedules) {
      const zoned = new Cron(schedule, { timezone: "UTC", paused: true });
      const ours = nextFireTimes(job(schedule, "UTC"), from, 400);
      expect(iso(ours)).toEqual(iso(zoned.nextRuns(400, from)));
      for (const time of ours.slice(0, 50)) {
        expect(isFireTime(job(schedule, "UTC"), time)).toBe(true);
        expect(isFireTime(job(schedule, "UTC"), new Date(time.getTime() + 60_000))).toBe(
          zoned.nextRun(time)?.getTime() === time.getTime() + 60_000,
        );
      }
      const last = ours[ours.length - 1]!;
      expect(previousFireTime(job(schedule, "UTC"), new Date(last.getTime() + 1))?.toISOString()).toBe(
        zoned.previousRuns(1, new Date(last.getTime() + 1))[0]?.toISOString(),
      );
    }
  });

  it("when the range holds no fire time, then there is none", () => {
    expect(
      fireTimesBetween(
        job("0 3 * * 0", "UTC"),
        new Date("2026-12-01T00:00:00Z"),
        new Date("2026-12-05T00:00:00Z"),
      ),
    ).toEqual([]);
  });
});

describe("retry backoff", () => {
  it("when Cloud Scheduler's documented example (10 s, 300 s, 3 doublings) is used, then the waits match it", () => {
    const policy = { retryCount: 5, minBackoffSeconds: 10, maxBackoffSeconds: 300, maxDoublings: 3 };
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => retryBackoffSeconds(policy, n))).toEqual([
      10, 20, 40, 80, 160, 240, 300, 300,
    ]);
  });
});

describe("jobs and stack overrides", () => {
  it("when there are no overrides, then every cloud task of the catalog is a job with its own schedule", () => {
    const { jobs } = resolveJobs(tasks);
    expect(jobs.map((j) => j.name)).toEqual(tasks.map((t) => t.name));
    expect(jobs.every((j, i) => j.schedule === tasks[i]!.schedule && j.timeZone === "UTC")).toBe(true);
  });

  it("when the stack file overrides a task, then the job takes its schedule, zone and paused flag", () => {
    const dir = mkdtempSync(join(tmpdir(), "sj-stack-"));
    const file = join(dir, "Pulumi.dev.yaml");
    writeFileSync(
      file,
      [
        "config:",
        "  gcp:project: demo",
        "  scheduled-jobs:taskOverrides:",
        "    generate-daily-stats:",
        '      schedule: "10 0 * * *"',
        "      timeZone: Europe/Berlin",
        "    driver-inactivity-check:",
        "      paused: true",
        "",
      ].join("\n"),
    );
    const jobs = loadStackJobs(file);
    const stats = jobs.find((j) => j.name === "generate-daily-stats")!;
    expect([stats.schedule, stats.timeZone, stats.paused]).toEqual(["10 0 * * *", "Europe/Berlin", false]);
    expect(jobs.find((j) => j.name === "driver-inactivity-check")!.paused).toBe(true);
  });

  it("when the stack stores values as `pulumi config set --path` does, then they read as infra reads them", () => {
    const dir = mkdtempSync(join(tmpdir(), "sj-stack-"));
    const file = join(dir, "Pulumi.dev.yaml");
    writeFileSync(
      file,
      [
        "config:",
        "  scheduled-jobs:defaultTimeZone: Europe/Berlin",
        "  scheduled-jobs:taskOverrides:",
        "    archive-old-orders:",
        '      schedule: "0 4 * * 0"',
        '      paused: "true"',
        '      attemptDeadlineSeconds: "1200"',
        "    cleanup-distance-requests:",
        "      paused: false",
        "",
      ].join("\n"),
    );
    const jobs = loadStackJobs(file);
    const archive = jobs.find((j) => j.name === "archive-old-orders")!;
    expect([archive.schedule, archive.paused, archive.attemptDeadlineSeconds]).toEqual([
      "0 4 * * 0",
      true,
      1200,
    ]);
    // The stack's default zone applies to every task that names none.
    expect(new Set(jobs.map((j) => j.timeZone))).toEqual(new Set(["Europe/Berlin"]));
  });

  it("when an override's deadline is outside Cloud Scheduler's limits or its cron is not five fields, then loading fails", () => {
    const dir = mkdtempSync(join(tmpdir(), "sj-stack-"));
    const file = join(dir, "Pulumi.dev.yaml");
    const write = (lines: string[]) => {
      writeFileSync(
        file,
        ["config:", "  scheduled-jobs:taskOverrides:", "    generate-daily-stats:", ...lines, ""].join("\n"),
      );
      return file;
    };
    expect(() => loadStackJobs(write(["      attemptDeadlineSeconds: 10"]))).toThrow(
      /outside Cloud Scheduler's 15\.\.1800 s/,
    );
    // generate-daily-stats' own timeout is 120 s: a shorter deadline would retry a run still going.
    expect(() => loadStackJobs(write(["      attemptDeadlineSeconds: 60"]))).toThrow(
      /attempt deadline 60 s is below the task's timeout of 120 s/,
    );
    expect(() => loadStackJobs(write(['      schedule: "0 0 5 0 * *"']))).toThrow(/exactly five fields/);
    expect(() => loadStackJobs(write(['      schedule: "@daily"']))).toThrow(/exactly five fields/);
    // croner would take these; Cloud Scheduler's unix-cron does not.
    expect(() => loadStackJobs(write(['      schedule: "0 0 L * *"']))).toThrow(/is not a number/);
    expect(() => loadStackJobs(write(['      schedule: "0 0 ? * MON#1"']))).toThrow(/is not a number/);
  });

  it("when the stack file is absent, then there are no overrides", () => {
    const settings = readStackJobSettings("/nonexistent/Pulumi.dev.yaml");
    expect(settings.overrides).toBeUndefined();
    expect(loadStackJobs("/nonexistent/Pulumi.dev.yaml")).toEqual(resolveJobs(tasks).jobs);
  });

  it("when an override names an unknown task, a bad cron or an unknown field, then loading fails and says which", () => {
    const dir = mkdtempSync(join(tmpdir(), "sj-stack-"));
    const write = (body: string) => {
      const file = join(dir, `Pulumi.${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, `config:\n  scheduled-jobs:taskOverrides:\n${body}`);
      return file;
    };
    expect(() => loadStackJobs(write("    no-such-task:\n      paused: true\n"))).toThrow(
      /unknown task "no-such-task"/,
    );
    expect(() => loadStackJobs(write("    generate-daily-stats:\n      sched: x\n"))).toThrow(
      /generate-daily-stats\.sched is not an override/,
    );
    expect(() => loadStackJobs(write('    generate-daily-stats:\n      schedule: "61 * * * *"\n'))).toThrow(
      /generate-daily-stats.*schedule "61 \* \* \* \*" minute 61 is outside 0-59/,
    );
    expect(() => loadStackJobs(write("    generate-daily-stats:\n      timeZone: Mars/Olympus\n"))).toThrow(
      /time zone "Mars\/Olympus"/,
    );
  });
});
