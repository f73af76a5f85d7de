/**
 * `backfill` and `replay` against a real database, through the CLI's entry point with one injected
 * "now" (and, where a printed command is run as written, as a child process). Every schedule time
 * derives from the clock at start, so the file passes on any date (and under faketime).
 */
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { previousFireTime } from "../../functions/core/schedule/fire-times.js";
import { runCli } from "../helpers/cli.js";
import { DEFAULT_TICK_LIMIT } from "../../scripts/lib/backfill.js";
import { childEnv } from "../../scripts/local/child-env.js";
import { ROOT } from "../../scripts/local/local-stack.js";
import { useTestDatabase } from "../helpers/database.js";
import { fingerprint } from "../helpers/db-fingerprint.js";

const db = useTestDatabase();
const emptyRoot = mkdtempSync(join(tmpdir(), "sj-backfill-root-"));
const now = new Date();
const DAY = 86_400_000;
const { jobs } = resolveJobs(tasks);
const stats = jobs.find((job) => job.name === "generate-daily-stats")!;
/** generate-daily-stats' last three ticks (00:05 UTC), oldest first. */
const latest = previousFireTime(stats, now)!;
const days = [2, 1, 0].map((back) => new Date(latest.getTime() - back * DAY));
const iso = (time: Date) => time.toISOString().replace(".000Z", "Z");
/** The day a tick's run writes: the day before the tick (UTC, the task's zone). */
const dayOf = (tick: Date) => new Date(tick.getTime() - DAY).toISOString().slice(0, 10);
const since = iso(new Date(days[0]!.getTime() - 3_600_000));

function cli(args: string[], at = now) {
  return runCli(args, { env: { DATABASE_URL: db.url, USER: "oncall" }, now: at, root: emptyRoot });
}

/** Runs a command line as printed, from the project's directory, as a child process. */
async function shell(command: string) {
  return promisify(execFile)("sh", ["-c", command], {
    cwd: ROOT,
    env: childEnv({ DATABASE_URL: db.url }),
  }).then(
    (done) => ({ code: 0, ...done }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

async function runsOf(task: string) {
  return (
    await db.pool.query<{ schedule_time: Date | null; status: string; trigger: string }>(
      "SELECT schedule_time, status, trigger FROM scheduler.job_runs WHERE task = $1 ORDER BY id",
      [task],
    )
  ).rows;
}

async function statsDays(): Promise<Record<string, number>> {
  const rows = await db.pool.query<{ day: string; total_orders: number }>(
    "SELECT stats_date::text AS day, total_orders FROM daily_order_stats ORDER BY 1",
  );
  return Object.fromEntries(rows.rows.map((row) => [row.day, row.total_orders]));
}

/** Days on which writing the stats fails (a broken run, until the test "fixes" it). */
async function breakDays(...ticks: Date[]): Promise<void> {
  await db.pool.query("DELETE FROM bad_stats_days");
  for (const tick of ticks) await db.pool.query("INSERT INTO bad_stats_days VALUES ($1)", [dayOf(tick)]);
}

beforeEach(async () => {
  await db.pool.query(`
    DELETE FROM scheduler.job_runs; DELETE FROM scheduler.task_pauses; DELETE FROM daily_order_stats; DELETE FROM orders;
    CREATE TABLE IF NOT EXISTS bad_stats_days (day date PRIMARY KEY);
    DELETE FROM bad_stats_days;
    CREATE OR REPLACE FUNCTION refuse_bad_stats_day() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM bad_stats_days WHERE day = NEW.stats_date) THEN
        RAISE EXCEPTION 'stats of % refused', NEW.stats_date;
      END IF;
      RETURN NEW;
    END $$;
    CREATE OR REPLACE TRIGGER refuse_bad_stats_day BEFORE INSERT OR UPDATE ON daily_order_stats
      FOR EACH ROW EXECUTE FUNCTION refuse_bad_stats_day();`);
  // The run history began three days ago (a run of another task): the ticks since count as missed
  // (before it, nothing shows the scheduler was running, and the tick rules count none).
  await db.pool.query(
    "INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at) VALUES ('purge-run-history', 'cli', 'succeeded', $1, $1)",
    [new Date(now.getTime() - 3 * DAY)],
  );
  // 1, 2 and 3 orders on the days the three ticks compute.
  for (const [index, tick] of days.entries())
    await db.pool.query(
      "INSERT INTO orders (status, created_at) SELECT 'delivered', $1::date + interval '12 hours' FROM generate_series(1, $2)",
      [dayOf(tick), index + 1],
    );
});

describe("backfill", () => {
  it("when a daily task missed three days, then it runs the three ticks in order, each computing its own day; a rerun runs nothing", async () => {
    const first = await cli(["backfill", "generate-daily-stats", "--since", since]);
    expect(first.err).not.toMatch(/error/i);
    expect(first.code).toBe(0);
    expect(first.out).toContain("3 tick(s) of");
    expect(await statsDays()).toEqual({ [dayOf(days[0]!)]: 1, [dayOf(days[1]!)]: 2, [dayOf(days[2]!)]: 3 });
    expect(await runsOf("generate-daily-stats")).toEqual(
      days.map((tick) => ({ schedule_time: tick, status: "succeeded", trigger: "backfill" })),
    );

    const again = await cli(["backfill", "generate-daily-stats", "--since", since, "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ ticks: [], alreadySucceeded: 3, runs: [] });
    expect(await runsOf("generate-daily-stats")).toHaveLength(3);
  });

  it("when `missed` lists a task's missed ticks, then it prints one backfill command for them, which runs them as printed", async () => {
    // The history began before the first of the three ticks: they count as missed.
    await db.pool.query(
      "INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at) VALUES ('generate-daily-stats', 'cli', 'failed', $1, $1)",
      [new Date(days[0]!.getTime() - 2 * 3_600_000)],
    );
    const missed = await cli(["missed", "--since", since]);
    const line = missed.out.split("\n").find((text) => text.includes("backfill generate-daily-stats"));
    const command = line?.slice(line.indexOf("npm run cli -- "));
    expect(command).toMatch(
      new RegExp(`^npm run cli -- backfill generate-daily-stats --since ${iso(days[0]!)} --until \\S+$`),
    );
    const ran = await cli(command!.replace("npm run cli -- ", "").split(" "));
    expect(ran.code).toBe(0);
    expect(await statsDays()).toMatchObject({ [dayOf(days[0]!)]: 1, [dayOf(days[1]!)]: 2 });
  });

  it("when a tick fails, then it stops there (exit 1) and prints the command that resumes; after a fix that command, run as printed, finishes", async () => {
    await breakDays(days[1]!);
    const stopped = await cli(["backfill", "generate-daily-stats", "--since", since]);
    expect(stopped.code).toBe(1);
    const resume = `npm run cli -- backfill generate-daily-stats --since ${iso(days[1]!)} --until ${iso(now).replace(/\.\d{3}Z$/, "Z")}`;
    expect(stopped.out).toContain(`stopped at ${iso(days[1]!)} (generate-daily-stats): the run failed`);
    expect(stopped.out).toContain(resume);
    expect((await runsOf("generate-daily-stats")).map((r) => [r.schedule_time, r.status])).toEqual([
      [days[0], "succeeded"],
      [days[1], "failed"],
    ]);

    await breakDays();
    const resumed = await shell(resume);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await statsDays()).toEqual({ [dayOf(days[0]!)]: 1, [dayOf(days[1]!)]: 2, [dayOf(days[2]!)]: 3 });
    expect((await runsOf("generate-daily-stats")).map((r) => r.status)).toEqual([
      "succeeded",
      "failed",
      "succeeded",
      "succeeded",
    ]);
  });

  it("when the task is paused at run time, then the backfill stops at its first tick (exit 1) and says how to resume", async () => {
    await db.pool.query(
      "SELECT scheduler.pause_task('generate-daily-stats', 'stats rebuild', 'alice', NULL)",
    );
    const stopped = await cli(["backfill", "generate-daily-stats", "--since", since]);
    expect(stopped.code).toBe(1);
    expect(stopped.out).toContain("paused at run time (`npm run cli -- resume generate-daily-stats`");
    expect(stopped.out).toContain(`--since ${iso(days[0]!)}`);
    expect((await runsOf("generate-daily-stats")).map((r) => r.status)).toEqual(["paused"]);
  });

  it("when --dry-run is given, then it lists the ticks and changes nothing", async () => {
    const before = await fingerprint(db.pool);
    const dry = await cli(["backfill", "generate-daily-stats", "--since", since, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.out.split("\n").slice(1)).toEqual(days.map((tick) => `  ${iso(tick)}`));
    expect(await fingerprint(db.pool)).toEqual(before);
  });

  it("when --once is given for a task that does not read its tick, then one run for the latest tick stands for the gap; a rerun runs nothing", async () => {
    const task = jobs.find((job) => job.name === "auto-cancel-unconfirmed-orders")!;
    await db.pool.query(
      "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, 3)",
    );
    const once = await cli(["backfill", task.name, "--since", "2h", "--once", "--json"]);
    expect(once.code).toBe(0);
    const report = JSON.parse(once.out);
    const tick = previousFireTime(task, now)!;
    expect(report).toMatchObject({ once: true, ticks: [tick.toISOString().replace(".000Z", "Z")] });
    expect(report.standsFor).toBeGreaterThanOrEqual(120);
    expect(report.runs).toMatchObject([{ status: "succeeded", result: { rowsAffected: 3 } }]);
    expect(await runsOf(task.name)).toEqual([
      { schedule_time: tick, status: "succeeded", trigger: "backfill" },
    ]);

    const again = await cli(["backfill", task.name, "--since", "2h", "--once"]);
    expect(again.code).toBe(0);
    expect(again.out).toContain("nothing to run: the latest tick of the range already succeeded (--once)");
    expect(await runsOf(task.name)).toHaveLength(1);
  });

  it("when --once is asked of a task that reads its tick, then it is refused (exit 2) and nothing runs", async () => {
    const refused = await cli(["backfill", "generate-daily-stats", "--since", since, "--once"]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(
      "generate-daily-stats reads its tick (readsTick in functions/core/catalog.ts)",
    );
    expect(await runsOf("generate-daily-stats")).toEqual([]);
  });

  it("when more ticks are missing than the limit, then it refuses (exit 2), says how to go on, and runs nothing", async () => {
    const refused = await cli(["backfill", "auto-cancel-unconfirmed-orders", "--since", "2d"]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`more than ${DEFAULT_TICK_LIMIT} ticks to run`);
    expect(refused.err).toContain("--dry-run --limit N");
    expect(refused.err).toContain("--once");
    const small = await cli(["backfill", "auto-cancel-unconfirmed-orders", "--since", "2h", "--limit", "5"]);
    expect(small.code).toBe(2);
    expect(small.err).toContain("more than 5 ticks to run");
    expect(await runsOf("auto-cancel-unconfirmed-orders")).toEqual([]);
  });

  it("when the range or the task is wrong, then it exits 2 with the reason", async () => {
    const after = await cli(["backfill", "generate-daily-stats", "--since", "1h", "--until", "2h"]);
    expect(after.code).toBe(2);
    expect(after.err).toMatch(/--since \S+ is after --until \S+: nothing to run/);
    const future = await cli([
      "backfill",
      "generate-daily-stats",
      "--since",
      "1h",
      "--until",
      new Date(now.getTime() + DAY).toISOString(),
    ]);
    expect(future.code).toBe(2);
    expect(future.err).toContain("is in the future");
    expect((await cli(["backfill", "generate-daily-stats"])).err).toContain("--since <time> is required");

    // As an operator types it: the installed bin, a child process.
    const unknown = await promisify(execFile)(
      process.execPath,
      [join(ROOT, "bin", "scheduled-jobs.js"), "backfill", "generate-dialy-stats", "--since", "3d"],
      { cwd: emptyRoot, env: childEnv({ DATABASE_URL: db.url }) },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(unknown).toMatchObject({ code: 2 });
    expect((unknown as { stderr: string }).stderr).toContain('unknown task "generate-dialy-stats"');
    expect(await runsOf("generate-daily-stats")).toEqual([]);
  });
});

describe("replay --failed", () => {
  it("when ticks failed, then after a fix it reruns them in tick order, skips a tick repaired since, and lists a failed manual run without replaying it", async () => {
    await breakDays(...days);
    for (const tick of days) {
      const failed = await cli(["run", "generate-daily-stats", "--slot", iso(tick), "--direct"]);
      expect(failed.code).toBe(1);
    }
    // A manual run's input is its start: the day before now.
    await db.pool.query("INSERT INTO bad_stats_days VALUES ($1) ON CONFLICT DO NOTHING", [dayOf(now)]);
    expect((await cli(["run", "generate-daily-stats", "--direct"])).code).toBe(1);
    // The middle tick is repaired by hand; the first one is still broken.
    await breakDays(days[0]!);
    expect((await cli(["run", "generate-daily-stats", "--slot", iso(days[1]!), "--direct"])).code).toBe(0);

    // The manual run started (by the database's clock) after the file's "now": the replay's now is later.
    const later = new Date();
    const dry = await cli(["replay", "--failed", "--since", since, "--dry-run", "--json"], later);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.out);
    expect(plan.ticks).toEqual([
      { task: "generate-daily-stats", tick: iso(days[0]!) },
      { task: "generate-daily-stats", tick: iso(days[2]!) },
    ]);
    expect(plan.manual).toMatchObject([{ task: "generate-daily-stats" }]);

    const stopped = await cli(
      ["replay", "--failed", "--since", since, "--task", "generate-daily-stats"],
      later,
    );
    expect(stopped.code).toBe(1);
    expect(stopped.out).toContain("failed manual run(s) not replayed: they stand for no tick");
    expect(stopped.out).toContain(
      `npm run cli -- replay --failed --since ${iso(days[0]!)} --until ${iso(later).replace(/\.\d{3}Z$/, "Z")} --task generate-daily-stats`,
    );

    await breakDays();
    const countBefore = (await runsOf("generate-daily-stats")).length;
    const replayed = await cli(["replay", "--failed", "--since", since, "--json"], later);
    expect(replayed.code).toBe(0);
    expect(JSON.parse(replayed.out).runs).toMatchObject([
      { tick: iso(days[0]!), status: "succeeded" },
      { tick: iso(days[2]!), status: "succeeded" },
    ]);
    const runs = await runsOf("generate-daily-stats");
    expect(runs.slice(countBefore)).toEqual([
      { schedule_time: days[0], status: "succeeded", trigger: "replay" },
      { schedule_time: days[2], status: "succeeded", trigger: "replay" },
    ]);
    expect(await statsDays()).toEqual({ [dayOf(days[0]!)]: 1, [dayOf(days[1]!)]: 2, [dayOf(days[2]!)]: 3 });

    const nothing = await cli(["replay", "--failed", "--since", since], later);
    expect(nothing.code).toBe(0);
    expect(nothing.out).toContain("nothing to replay");
  });

  it("when --failed is missing, the task is unknown or --since is after --until, then exit 2", async () => {
    expect((await cli(["replay", "--since", "2d"])).err).toContain("--failed is required");
    const unknown = await cli(["replay", "--failed", "--since", "2d", "--task", "no-such-task"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown task "no-such-task"');
    const after = await cli(["replay", "--failed", "--since", "1h", "--until", "3h"]);
    expect(after.code).toBe(2);
    expect(after.err).toContain("is after --until");
  });
});
