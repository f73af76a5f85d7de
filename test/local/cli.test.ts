import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { taskNames, tasks } from "../../functions/core/catalog.js";
import { runCli } from "../helpers/cli.js";
import { childEnv, underShiftedClock } from "../../scripts/local/child-env.js";
import { ROOT } from "../../scripts/local/local-stack.js";
import { useTestDatabase } from "../helpers/database.js";

const db = useTestDatabase();
/**
 * Schedule data that meets the run history (written by the database's clock) derives from the clock
 * at start, so the file passes on any date: generate-daily-stats' latest tick (00:05 UTC) that is
 * settled (its timeout and a minute of grace behind us), so that running it leaves nothing overdue.
 */
const slot = (() => {
  const settled = Date.now() - 3 * 60_000;
  const day = new Date(settled);
  const tick = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), 0, 5);
  return new Date(tick <= settled ? tick : tick - 86_400_000);
})();
const emptyRoot = mkdtempSync(join(tmpdir(), "sj-cli-root-"));

function cli(
  args: string[],
  env: Record<string, string | undefined> = { DATABASE_URL: db.url },
  now = new Date(),
) {
  return runCli(args, { env, now, root: emptyRoot });
}

beforeAll(async () => {
  // 12,000 expired sessions: three batches of cleanup-expired-sessions (5,000 per batch).
  await db.pool.query(
    "INSERT INTO user_sessions (user_id, expires_at) SELECT g, now() - interval '1 hour' FROM generate_series(1, 12000) g",
  );
});

describe("the operator CLI: usage errors (exit 2)", () => {
  it("when the command is unknown, then it exits 2 with one line that says where the usage is", async () => {
    const result = await cli(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.err).toBe(
      'scheduled-jobs: unknown command "frobnicate"; run `npm run cli -- --help` for every command',
    );
    const typo = await cli(["hisotry", "--limit", "5"]);
    expect(typo.code).toBe(2);
    expect(typo.err).toBe(
      'scheduled-jobs: unknown command "hisotry" (did you mean history?); run `npm run cli -- --help` for every command',
    );
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/a command is required\n\nUsage: scheduled-jobs/);
  });

  it("when the task is unknown, then it exits 2 and lists the known tasks", async () => {
    const result = await cli(["run", "no-such-task"]);
    expect(result.code).toBe(2);
    expect(result.err).toContain('unknown task "no-such-task"');
    for (const name of taskNames) expect(result.err).toContain(name);
  });

  it("when a flag is unknown, misplaced or malformed, then it exits 2 and says which", async () => {
    expect((await cli(["history", "--verbose"])).err).toMatch(/unknown option --verbose/);
    expect((await cli(["jobs", "--dry-run"])).err).toMatch(/jobs does not take --dry-run/);
    expect((await cli(["history", "--limit", "lots"])).err).toMatch(/--limit must be an integer/);
    expect((await cli(["missed", "--since", "yesterday"])).err).toMatch(/--since "yesterday" is not a time/);
    const slot = await cli(["run", "generate-daily-stats", "--slot", "2026-11-29T00:06:00Z"]);
    expect(slot.code).toBe(2);
    expect(slot.err).toContain(
      "--slot 2026-11-29T00:06:00Z is not a schedule time of generate-daily-stats (5 0 * * * in UTC); the next one after it is 2026-11-30T00:05:00Z",
    );
  });
});

describe("the operator CLI: no database (exit 3)", () => {
  it("when DATABASE_URL is unset and the local stack is not running, then it says so and exits 3", async () => {
    const result = await cli(["history"], {});
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/DATABASE_URL is not set and the local stack is not running/);
    expect(result.err).toMatch(/npm start/);
  });

  it("when the database is unreachable, then it exits 3 and never prints the password", async () => {
    const result = await cli(["health"], { DATABASE_URL: "postgres://ops:s3cret-pw@127.0.0.1:1/app" });
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/the database at 127\.0\.0\.1:1\/app is unreachable/);
    expect(result.err).not.toContain("s3cret-pw");
  });

  it("when the database is unreachable, then `jobs` still lists the schedule and notes the missing status", async () => {
    const result = await cli(["jobs"], { DATABASE_URL: "postgres://ops@127.0.0.1:1/app" });
    expect(result.code).toBe(0);
    expect(result.out.split("\n")).toHaveLength(2 + taskNames.length);
    expect(result.err).toMatch(/last status unknown/);
  });
});

describe("the operator CLI against a database", () => {
  it("when `jobs --json` runs, then every job has its schedule, zone, paused flag and next three run times", async () => {
    const result = await cli(["jobs", "--json"], { DATABASE_URL: db.url }, new Date("2026-11-29T04:00:30Z"));
    expect(result.code).toBe(0);
    const jobs = JSON.parse(result.out).jobs as { task: string; next: string[]; timeZone: string }[];
    expect(jobs.map((j) => j.task)).toEqual([...taskNames]);
    expect(jobs.find((j) => j.task === "driver-inactivity-check")!.next).toEqual([
      "2026-11-29T04:05:00.000Z",
      "2026-11-29T04:10:00.000Z",
      "2026-11-29T04:15:00.000Z",
    ]);
  });

  it("when a batched task runs directly, then each batch's progress is shown and it exits 0", async () => {
    const result = await cli(["run", "cleanup-expired-sessions"]);
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/running cleanup-expired-sessions directly against 127\.0\.0\.1/);
    expect(result.err).toMatch(/batch 1: 5000 rows so far \(\d+ rows\/s\)/);
    // The next batches are sized by time: how many there are depends on the machine.
    expect(result.err).toMatch(/batch \d+: 12000 rows so far/);
    expect(result.out).toMatch(/cleanup-expired-sessions: succeeded, 12000 rows in \d+ ms \(run \d+\)/);
  });

  // Under libfaketime (CI's shifted-clock pass) a batch's own statement_timeout never cancels it;
  // the test has no date in it, and the normal pass runs it.
  it.skipIf(underShiftedClock())(
    "when a task's batches run past their timeout, then the CLI says each was cancelled, and the run fails saying why",
    async () => {
      await db.pool.query(`
      INSERT INTO user_sessions (expires_at) SELECT now() - interval '1 day' FROM generate_series(1, 300);
      -- Every deleted row takes 50 ms: no batch of the catalog's smallest size (100 rows) fits in
      -- its 200 ms timeout (twice the 100 ms target).
      CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.05); RETURN OLD; END $$;
      CREATE TRIGGER slow_row BEFORE DELETE ON user_sessions FOR EACH ROW EXECUTE FUNCTION slow_row();`);
      try {
        const result = await cli(["run", "cleanup-expired-sessions"]);
        expect(result.code).not.toBe(0);
        expect(result.err).toMatch(
          /a batch ran past its timeout and was cancelled \(nothing of it changed\): retrying smaller/,
        );
        expect(result.out).toMatch(
          /cleanup-expired-sessions: failed \(timeout\): 3 batches in a row at the smallest size \(100 rows\) ran past their 200 ms and were cancelled/,
        );
        expect((await db.pool.query(`SELECT count(*)::int AS n FROM user_sessions`)).rows[0].n).toBe(300);
      } finally {
        await db.pool.query(`DROP TRIGGER slow_row ON user_sessions; DROP FUNCTION slow_row()`);
      }
      // The task's last run succeeds again, as the later checks of health expect.
      expect((await cli(["run", "cleanup-expired-sessions"])).code).toBe(0);
    },
  );

  it("when an email task runs directly without a SendGrid key, then it fails and sends nothing, unless the local mailbox is chosen", async () => {
    const keyless = await cli(["run", "send-order-confirmations", "--json"]);
    expect(keyless.code).not.toBe(0);
    expect(JSON.parse(keyless.out)).toMatchObject({
      task: "send-order-confirmations",
      status: "failed",
      code: "unavailable",
    });
    const local = await cli(["run", "send-order-confirmations", "--json"], {
      DATABASE_URL: db.url,
      EMAIL_TRANSPORT: "local-mailbox",
    });
    expect(local.err).toBe("");
    expect(local.code).toBe(0);
    expect(JSON.parse(local.out)).toMatchObject({ task: "send-order-confirmations", status: "succeeded" });
  });

  it("when a dry run is asked for, then it reports and changes nothing", async () => {
    await db.pool.query(
      "INSERT INTO drivers (name, is_available, updated_at) VALUES ('idle', true, now() - interval '2 hours')",
    );
    const result = await cli(["run", "driver-inactivity-check", "--dry-run", "--json"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ status: "succeeded", dryRun: true, rowsAffected: 1 });
    const still = await db.pool.query("SELECT 1 FROM drivers WHERE name = 'idle' AND is_available");
    expect(still.rowCount).toBe(1);
  });

  it("when a slot is run twice, then the second run is a duplicate and the slot is no longer missed", async () => {
    const iso = (time: Date) => time.toISOString().replace(".000Z", "Z");
    const dayStart = new Date(Date.UTC(slot.getUTCFullYear(), slot.getUTCMonth(), slot.getUTCDate()));
    const at = new Date(dayStart.getTime() + (4 * 60 + 20) * 60_000);
    // The history began before the day: its schedule times count (a missed tick is one after it began).
    const seeded = await db.pool.query<{ id: string }>(
      "INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at) VALUES ('generate-daily-stats', 'cli', 'failed', $1, $1) RETURNING id",
      [new Date(dayStart.getTime() - 3_600_000)],
    );
    const before = await cli(["missed", "--since", iso(dayStart), "--json"], { DATABASE_URL: db.url }, at);
    const stats = () =>
      JSON.parse(before.out).tasks.find((t: { task: string }) => t.task === "generate-daily-stats");
    expect(stats().missed).toEqual([iso(slot)]);

    const first = await cli(["run", "generate-daily-stats", "--slot", iso(slot)]);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/generate-daily-stats: succeeded/);
    const second = await cli(["run", "generate-daily-stats", "--slot", iso(slot)]);
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/this schedule time already succeeded in run \d+; nothing done/);

    const after = await cli(["missed", "--since", iso(dayStart), "--json"], { DATABASE_URL: db.url }, at);
    const task = JSON.parse(after.out).tasks.find((t: { task: string }) => t.task === "generate-daily-stats");
    expect(task.missed).toEqual([]);
    const since = new Date(dayStart.getTime() + 3 * 3_600_000);
    const text = await cli(["missed", "--since", iso(since)], { DATABASE_URL: db.url }, at);
    const hourly = new Date(dayStart.getTime() + 4 * 3_600_000);
    // A task this file never runs for real (its manual runs of cleanup-expired-sessions, on the real
    // clock, do the work of that task's ticks before them).
    expect(text.out).toContain(`npm run cli -- run driver-inactivity-check --slot ${iso(hourly)}`);
    // The later tests judge health over a history that began minutes ago.
    await db.pool.query("DELETE FROM scheduler.job_runs WHERE id = $1", [seeded.rows[0]!.id]);
  });

  it("when a run trips its guard, then it exits 1, history --failed shows it, and health exits 1", async () => {
    await db.pool.query(
      "INSERT INTO orders (status, placed_at) SELECT 'pending', now() - interval '2 hours' FROM generate_series(1, 501)",
    );
    const run = await cli(["run", "auto-cancel-unconfirmed-orders"]);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /auto-cancel-unconfirmed-orders: failed \(guard_tripped\): .*would change 501 rows, more than its limit of 500/,
    );

    const failed = await cli(["history", "--failed", "--json"]);
    const runs = JSON.parse(failed.out).runs as { task: string; status: string; errorCode: string }[];
    expect(runs.every((r) => r.status === "failed")).toBe(true);
    expect(runs[0]).toMatchObject({ task: "auto-cancel-unconfirmed-orders", errorCode: "guard_tripped" });

    const table = await cli(["history", "--limit", "2"]);
    expect(table.out.split("\n")).toHaveLength(4);
    expect(table.out.split("\n")[0]).toMatch(/^run\s+task\s+trigger\s+status\s+started/);

    const health = await cli(["health"]);
    expect(health.code).toBe(1);
    expect(health.out).toMatch(/needs attention: .*auto-cancel-unconfirmed-orders \(last run failed\)/);

    const forced = await cli(["run", "auto-cancel-unconfirmed-orders", "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/succeeded, 501 rows/);
  });

  it("when no task failed its last run and none is overdue, then health exits 0", async () => {
    const result = await cli(["health", "--json"]);
    const report = JSON.parse(result.out) as { status: string; tasks: { task: string; overdue: boolean }[] };
    expect(report.tasks.map((t) => t.task)).toEqual([...taskNames]);
    // The history here began minutes ago, so nothing can be overdue yet; the forced run repaired the failure.
    expect(report.status).toBe("ok");
    expect(result.code).toBe(0);
  });
});

describe("the scheduled-jobs bin", () => {
  it("when run as a command, then it answers with the same exit codes", async () => {
    const run = promisify(execFile);
    const help = await run(process.execPath, [join(ROOT, "bin", "scheduled-jobs.js"), "--help"], {
      cwd: emptyRoot,
    });
    expect(help.stdout).toMatch(/Usage: scheduled-jobs <command>/);
    const failure = await run(process.execPath, [join(ROOT, "bin", "scheduled-jobs.js"), "history"], {
      cwd: emptyRoot,
      env: childEnv(),
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 3 });
    expect((failure as { stderr: string }).stderr).toMatch(/the local stack is not running/);
  });
});

describe("pause and resume", () => {
  const task = "driver-inactivity-check";
  // db.url is known once the database is up, not when the suite is declared.
  const as = (user: string) => ({ DATABASE_URL: db.url, USER: user });

  it("when a task is paused, then a direct run records it paused with the reason and who paused it; resumed, it runs", async () => {
    const now = new Date();
    const until = new Date(now.getTime() + 3_600_000).toISOString();
    const paused = await cli(
      ["pause", task, "--reason", "drivers app release", "--until", until, "--json"],
      as("oncall-alice"),
      now,
    );
    expect(paused.err).toBe("");
    expect(paused.code).toBe(0);
    expect(JSON.parse(paused.out).paused).toMatchObject({
      task,
      reason: "drivers app release",
      pausedBy: "oncall-alice",
      until,
    });

    const run = await cli(["run", task, "--direct", "--json"], as("oncall-alice"), now);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({
      status: "paused",
      reason: "drivers app release",
      pausedBy: "oncall-alice",
    });
    const history = await cli(["history", task, "--limit", "1", "--json"], as("oncall-alice"), now);
    expect(JSON.parse(history.out).runs[0]).toMatchObject({
      status: "paused",
      message: "drivers app release",
      trigger: "cli",
    });

    const resumed = await cli(["resume", task, "--json"], as("oncall-bob"), now);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.out).resumed).toMatchObject({
      pausedBy: "oncall-alice",
      resumedBy: "oncall-bob",
    });
    expect(
      JSON.parse((await cli(["run", task, "--direct", "--json"], as("oncall-alice"), now)).out),
    ).toMatchObject({
      status: "succeeded",
    });
    expect((await cli(["resume", task], as("oncall-alice"), now)).out).toMatch(/was not paused/);
  });

  it("when pause's --until is a duration, then the pause ends that long after now, as --since counts back", async () => {
    // The database's clock judges the pause, so "now" here is the real one.
    const now = new Date();
    const paused = await cli(
      ["pause", task, "--reason", "menu import", "--until", "30m", "--json"],
      as("oncall-alice"),
      now,
    );
    expect(paused.code, paused.err).toBe(0);
    expect(JSON.parse(paused.out).paused.until).toBe(new Date(now.getTime() + 30 * 60_000).toISOString());
    expect((await cli(["resume", task, "--json"], as("oncall-alice"), now)).code).toBe(0);
    const word = await cli(["pause", task, "--reason", "x", "--until", "soon"], as("oncall-alice"), now);
    expect(word.code).toBe(2);
    expect(word.err).toContain(
      '--until "soon" is not a time: use ISO 8601 (2026-11-29T04:15:00Z) or a duration from now (30m, 6h, 2d)',
    );
  });

  it("when pause has no reason or an --until in the past, then usage (2) and nothing is paused", async () => {
    const now = new Date();
    expect((await cli(["pause", task], as("oncall-alice"), now)).code).toBe(2);
    const past = await cli(
      ["pause", task, "--reason", "x", "--until", new Date(now.getTime() - 60_000).toISOString()],
      as("oncall-alice"),
      now,
    );
    expect(past.code).toBe(2);
    expect(past.err).toMatch(/not in the future/);
    const pauses = await db.pool.query(
      "SELECT count(*)::int AS n FROM scheduler.task_pauses WHERE resumed_at IS NULL",
    );
    expect(pauses.rows[0].n).toBe(0);
  });
});

describe("a task that pg_cron runs", () => {
  // The catalog as a hybrid deployment has it: one SQL task moved to pg_cron.
  const task = "cleanup-orphaned-menus";
  const catalog = tasks.map((t) => (t.name === task ? { ...t, runner: "pg_cron" as const } : t));
  const hybridCli = (args: string[]) =>
    runCli(args, { env: { DATABASE_URL: db.url, USER: "oncall-carol" }, root: emptyRoot, catalog });

  it("when the CLI lists, pauses, runs and checks it, then it is a job like the others; only a force run is refused", async () => {
    const jobs = JSON.parse((await hybridCli(["jobs", "--json"])).out) as {
      jobs: { task: string; runner: string }[];
    };
    expect(jobs.jobs.find((job) => job.task === task)).toMatchObject({ runner: "pg_cron" });
    expect(jobs.jobs).toHaveLength(catalog.length);

    expect((await hybridCli(["pause", task, "--reason", "menu import running"])).code).toBe(0);
    const paused = await hybridCli(["run", task, "--json"]);
    expect(JSON.parse(paused.out)).toMatchObject({ status: "paused", reason: "menu import running" });
    expect((await hybridCli(["resume", task])).code).toBe(0);
    const ran = await hybridCli(["run", task, "--json"]);
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.out)).toMatchObject({ status: "succeeded" });
    const history = JSON.parse((await hybridCli(["history", task, "--limit", "2", "--json"])).out) as {
      runs: { status: string; trigger: string }[];
    };
    expect(history.runs.map((run) => [run.status, run.trigger])).toEqual([
      ["succeeded", "cli"],
      ["paused", "cli"],
    ]);

    const missed = JSON.parse((await hybridCli(["missed", "--since", "1h", "--json"])).out) as {
      tasks: { task: string }[];
    };
    expect(missed.tasks.map((t) => t.task)).toContain(task);

    const forced = await hybridCli(["force-run", task]);
    expect(forced.code).toBe(2);
    expect(forced.err).toMatch(/runs in the database \(pg_cron\), not through Cloud Scheduler/);
  });
});
