/**
 * The on-call report's case, as typed: `missed --since 1h` and `backfill <task> --since 1h` once
 * listed different ticks (10 and 54), because backfill did not start where the run history begins.
 * With a history that began 20 minutes ago and an every-minute task that never ran, both list the
 * same ticks: the settled ones from the history's start on, none before it.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const root = mkdtempSync(join(tmpdir(), "sj-missed-since-"));
const now = new Date("2026-11-29T04:00:30Z");
const TASK = "auto-cancel-unconfirmed-orders"; // * * * * *, a 30 s timeout
const begins = new Date("2026-11-29T03:40:00Z");

const cli = (args: string[]) => runCli(args, { env: { DATABASE_URL: db.url }, now, root });

beforeAll(async () => {
  // The run history begins with a run of another task, twenty minutes before "now".
  await db.pool.query(
    `INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at)
     VALUES ('purge-run-history', 'cli', 'succeeded', $1, $1)`,
    [begins],
  );
});

describe("missed and backfill over --since 1h", () => {
  it("when the history began inside the hour, then both list the same ticks, from the history's start to the last settled one", async () => {
    const missed = await cli(["missed", "--since", "1h", "--json"]);
    expect(missed.code, missed.err).toBe(0);
    const listed = (JSON.parse(missed.out) as { tasks: { task: string; missed: string[] }[] }).tasks.find(
      (task) => task.task === TASK,
    )!.missed;
    const backfill = await cli(["backfill", TASK, "--since", "1h", "--dry-run", "--json"]);
    expect(backfill.code, backfill.err).toBe(0);
    const planned = (JSON.parse(backfill.out) as { ticks: string[] }).ticks;
    expect(planned).toEqual(listed);
    // 03:40 to 03:59: settled 30 s (its timeout) and a minute after it, so 04:00 is still in flight.
    expect(listed[0]).toBe("2026-11-29T03:40:00Z");
    expect(listed.at(-1)).toBe("2026-11-29T03:59:00Z");
    expect(listed).toHaveLength(20);
  });
});
