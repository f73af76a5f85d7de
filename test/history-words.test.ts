/**
 * `history` says what it found in words an on-call engineer reads at a glance: an empty answer
 * says what was asked for (no failed runs is not "no runs"), and a run's status carries its
 * qualifiers once ("succeeded (dry run, forced)").
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const root = mkdtempSync(join(tmpdir(), "sj-history-words-"));
const cli = (args: string[]) =>
  runCli(args, { env: { DATABASE_URL: db.url }, now: new Date("2026-11-29T04:00:30Z"), root });

describe("history's words", () => {
  it("when the history is empty, then it says no runs are recorded yet", async () => {
    expect((await cli(["history"])).out).toBe("no runs recorded yet");
    expect((await cli(["history", "--failed"])).out).toBe("no runs recorded yet");
  });

  describe("with runs recorded, none failed", () => {
    beforeAll(async () => {
      await db.pool.query(
        `INSERT INTO scheduler.job_runs (task, trigger, status, dry_run, forced, started_at, finished_at, duration_ms, rows_affected)
         VALUES ('archive-old-orders', 'cli', 'succeeded', true, true, '2026-11-29T03:00:00Z', '2026-11-29T03:00:01Z', 1000, 7)`,
      );
    });

    it("when only failed runs are asked for, then it says none failed, of the task when one is named", async () => {
      expect((await cli(["history", "--failed"])).out).toBe(
        "no failed runs in the history; `history` lists the runs recorded",
      );
      expect((await cli(["history", "archive-old-orders", "--failed"])).out).toBe(
        "no failed runs of archive-old-orders in the history; `history archive-old-orders` lists the runs recorded",
      );
      for (const args of [
        ["history", "generate-daily-stats"],
        ["history", "generate-daily-stats", "--failed"],
      ])
        expect((await cli(args)).out).toBe("no runs of generate-daily-stats recorded yet");
    });

    it("when a run was a forced dry run, then its status says both once", async () => {
      const row = (await cli(["history"])).out
        .split("\n")
        .find((line) => line.includes("archive-old-orders"))!;
      expect(row).toContain(" succeeded (dry run, forced) ");
    });
  });
});
