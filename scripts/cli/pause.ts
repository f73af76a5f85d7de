/**
 * `pause <task> --reason "..."`: the task's run-time pause, recorded with who paused it, why, when
 * and until when. The pause's row and who is at the keyboard are `resume`'s too.
 */
import { userInfo } from "node:os";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
import { EXIT, ToolError } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { CLI, iso } from "./io.js";
import { jobOf, taskArgument } from "./job-lookup.js";
import { parseTime } from "./times.js";

const flags = {
  reason: { type: "string" },
  until: { type: "string" },
} as const satisfies Options;

/** Who is at the keyboard, for the pause's audit. */
export function operator(io: Io): string {
  const fromEnv = io.env.USER ?? io.env.USERNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

export interface PauseRow {
  task: string;
  reason: string;
  paused_by: string;
  paused_at: Date;
  until: Date | null;
  resumed_at: Date | null;
  resumed_by: string | null;
}

export function pauseJson(row: PauseRow): Record<string, unknown> {
  return {
    task: row.task,
    reason: row.reason,
    pausedBy: row.paused_by,
    pausedAt: row.paused_at.toISOString(),
    until: row.until?.toISOString() ?? null,
    resumedAt: row.resumed_at?.toISOString() ?? null,
    resumedBy: row.resumed_by,
  };
}

async function pause(
  io: Io,
  job: Job,
  reason: string,
  until: Date | undefined,
  json: boolean,
): Promise<number> {
  return withPool(io, async (pool, where) => {
    const result = await pool.query<PauseRow>("SELECT * FROM scheduler.pause_task($1, $2, $3, $4)", [
      job.name,
      reason,
      operator(io),
      until ?? null,
    ]);
    const row = result.rows[0]!;
    if (json) io.out(JSON.stringify({ paused: pauseJson(row) }, null, 2));
    else
      io.out(
        `${job.name}: paused by ${row.paused_by} at ${iso(row.paused_at)}${row.until ? ` until ${iso(row.until)}` : " until resumed"} (${where}): ${row.reason}\nIts ticks now answer "paused" and do nothing; \`${CLI} resume ${job.name}\` ends it.`,
      );
    return EXIT.ok;
  });
}

export const pauseCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: 'pause <task> --reason "..." [--until <time>]',
    summary: `stop the task's runs now, without a deploy: every tick (and run) is recorded
paused with the reason and does nothing, until --until or \`resume\`;
/health shows it paused, not overdue. Records who paused it and when`,
    maxArgs: 1,
    flags,
  },
  run: ({ io, args, flags: given, json, jobs }) => {
    const job = jobOf(jobs, taskArgument("pause", args));
    const reason = given.text("reason")?.trim();
    if (!reason)
      throw new ToolError("usage", 'pause: --reason "..." is required (it is shown wherever the pause is)');
    const untilText = given.text("until");
    const until = untilText === undefined ? undefined : parseTime(untilText, "--until", io, "ahead");
    if (until && until.getTime() <= io.now().getTime())
      throw new ToolError("usage", `--until ${iso(until)} is not in the future`);
    return pause(io, job, reason, until, json);
  },
};
