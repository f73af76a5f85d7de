/** `history [task]`: recent runs, newest first. */
import type { Pool } from "../../functions/core/db/pool.js";
import type { RunRecord } from "../../functions/core/reads/history.js";
import type { Options } from "../lib/args.js";
import { EXIT, ToolError } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { iso, table } from "./io.js";
import { jobOf } from "./job-lookup.js";

const flags = {
  failed: { type: "boolean", default: false },
  limit: { type: "string" },
} as const satisfies Options;

function historyLimit(text: string | undefined): number {
  if (text === undefined) return 20;
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > 1000)
    throw new ToolError("usage", "--limit must be an integer from 1 to 1000");
  return limit;
}

/** A run's status with its qualifiers, once: "succeeded (dry run, forced)". */
function statusWords(run: RunRecord): string {
  const qualifiers = [run.dryRun && "dry run", run.forced && "forced"].filter(Boolean);
  return qualifiers.length === 0 ? run.status : `${run.status} (${qualifiers.join(", ")})`;
}

/** Why the answer is empty: no runs at all (of the task), or none failed among those recorded. */
async function nothingFound(
  pool: Pool,
  query: { task: string | undefined; failedOnly: boolean },
): Promise<string> {
  const of = query.task ? ` of ${query.task}` : "";
  const { rows } = await pool.query<{ any: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM scheduler.job_runs WHERE $1::text IS NULL OR task = $1) AS any",
    [query.task ?? null],
  );
  if (!query.failedOnly || !rows[0]?.any) return `no runs${of} recorded yet`;
  return `no failed runs${of} in the history; \`history${query.task ? ` ${query.task}` : ""}\` lists the runs recorded`;
}

async function printHistory(
  io: Io,
  query: { task: string | undefined; failedOnly: boolean; limit: number },
  json: boolean,
): Promise<number> {
  const { recentRuns } = await import("../../functions/core/reads/history.js");
  return withPool(io, async (pool) => {
    const runs: RunRecord[] = await recentRuns(pool, query);
    if (json) io.out(JSON.stringify({ runs }, null, 2));
    else if (runs.length === 0) io.out(await nothingFound(pool, query));
    else
      io.out(
        table(
          ["run", "task", "trigger", "status", "started", "ms", "rows", "schedule time", "message"],
          runs.map((r) => [
            r.runId,
            r.task,
            r.trigger,
            statusWords(r),
            iso(r.startedAt),
            r.durationMs === null ? "-" : String(r.durationMs),
            r.rowsAffected === null ? "-" : String(r.rowsAffected),
            iso(r.scheduleTime),
            (r.message ?? "").slice(0, 80),
          ]),
        ),
      );
    return EXIT.ok;
  });
}

export const historyCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: "history [task] [--failed] [--limit N]",
    summary: "recent runs, newest first (default 20)",
    maxArgs: 1,
    flags,
  },
  run: ({ io, args, flags: given, json, jobs }) => {
    const [task] = args;
    if (task) jobOf(jobs, task);
    const limit = historyLimit(given.text("limit"));
    return printHistory(io, { task, failedOnly: given.on("failed"), limit }, json);
  },
};
