/**
 * A run-time pause (`cli pause`) is shown the same way wherever a task is shown: `jobs` (text and
 * --json), `health` (text and --json) and GET /health's report say who paused it, why, since when
 * and until when, and list no next runs the pause will turn into "paused" records.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readHealth } from "../functions/core/reads/health.js";
import { loadStackJobs } from "../scripts/lib/jobs.js";
import { ROOT } from "../scripts/local/local-stack.js";
import { runCli } from "./helpers/cli.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const root = mkdtempSync(join(tmpdir(), "sj-pause-shown-"));
const now = new Date("2026-11-29T04:00:30Z");
const held = "driver-inactivity-check"; // every 5 minutes, paused until 04:20
const stopped = "cleanup-expired-sessions"; // hourly, paused until resumed
const jobs = loadStackJobs(join(ROOT, "Pulumi.dev.yaml"));

const cli = (args: string[]) => runCli(args, { env: { DATABASE_URL: db.url }, now, root });

interface Shown {
  task: string;
  paused: boolean;
  pause: Record<string, unknown> | null;
  next?: string[];
  nextRunAt?: string | null;
}

beforeAll(async () => {
  await db.pool.query(
    `INSERT INTO scheduler.task_pauses (task, reason, paused_by, paused_at, until) VALUES
       ($1, 'drivers app release', 'oncall-alice', '2026-11-29T03:30:00Z', '2026-11-29T04:20:00Z'),
       ($2, 'sessions table repack', 'oncall-bob', '2026-11-28T22:00:00Z', NULL)`,
    [held, stopped],
  );
});

describe("a run-time pause on every surface", () => {
  const alice = {
    task: held,
    reason: "drivers app release",
    pausedBy: "oncall-alice",
    pausedAt: "2026-11-29T03:30:00.000Z",
    until: "2026-11-29T04:20:00.000Z",
  };

  it("when `jobs --json` lists a task paused at run time, then it says paused with the pause, and its next runs are the ticks after the pause", async () => {
    const result = await cli(["jobs", "--json"]);
    expect(result.code, result.err).toBe(0);
    const shown = (JSON.parse(result.out) as { jobs: Shown[] }).jobs;
    expect(shown.find((job) => job.task === held)).toMatchObject({
      paused: true,
      pause: alice,
      next: ["2026-11-29T04:20:00.000Z", "2026-11-29T04:25:00.000Z", "2026-11-29T04:30:00.000Z"],
    });
    expect(shown.find((job) => job.task === stopped)).toMatchObject({
      paused: true,
      pause: { pausedBy: "oncall-bob", until: null },
      next: [],
    });
    expect(shown.find((job) => job.task === "auto-cancel-unconfirmed-orders")).toMatchObject({
      paused: false,
      pause: null,
    });
  });

  it("when `jobs` and `health` print the tasks, then each prints the pause in the same words: who, since, until, why", async () => {
    const line = `${held}: paused at run time by oncall-alice since 2026-11-29T03:30:00Z until 2026-11-29T04:20:00Z: drivers app release`;
    const other = `${stopped}: paused at run time by oncall-bob since 2026-11-28T22:00:00Z until resumed: sessions table repack`;
    const listed = await cli(["jobs"]);
    const health = await cli(["health"]);
    for (const printed of [listed.out, health.out]) {
      expect(printed).toContain(line);
      expect(printed).toContain(other);
    }
    const row = (out: string, task: string) => out.split("\n").find((l) => l.startsWith(`${task} `))!;
    expect(row(listed.out, held)).toMatch(/ run time +11-29 04:20, 11-29 04:25, 11-29 04:30 /);
    expect(row(listed.out, stopped)).toMatch(/ run time +- /);
    expect(row(listed.out, "auto-cancel-unconfirmed-orders")).toMatch(/ no +11-29 04:01/);
    expect(row(health.out, held)).toMatch(/ paused, next 2026-11-29T04:20:00Z /);
    expect(row(health.out, stopped)).toMatch(/ paused /);
  });

  it("when `health --json` and GET /health's report show the task, then the pause is the one `jobs --json` shows, and the next run is the first after it", async () => {
    const listed = (JSON.parse((await cli(["jobs", "--json"])).out) as { jobs: Shown[] }).jobs;
    const cliHealth = (JSON.parse((await cli(["health", "--json"])).out) as { tasks: Shown[] }).tasks;
    const report = (await readHealth(db.pool, now, jobs)).tasks;
    for (const task of [held, stopped]) {
      const pause = listed.find((job) => job.task === task)!.pause;
      expect(cliHealth.find((t) => t.task === task)!.pause).toEqual(pause);
      expect(report.find((t) => t.task === task)!.pause).toEqual(pause);
    }
    expect(report.find((t) => t.task === held)).toMatchObject({
      paused: true,
      nextRunAt: "2026-11-29T04:20:00.000Z",
    });
    expect(report.find((t) => t.task === stopped)).toMatchObject({ paused: true, nextRunAt: null });
  });
});
