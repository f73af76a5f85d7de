/**
 * `pause <task> --reason "..."`: the task's run-time pause, recorded with who paused it, why, when
 * and until when, through the core's pause writer (functions/core/actions/pauses.ts, the dashboard's
 * too; the pause's JSON and words are functions/core/reads/tick-facts.ts'). Who is at the keyboard
 * is `resume`'s too.
 */
import { userInfo } from "node:os";
import { pauseTask } from "../../functions/core/actions/pauses.js";
import { pauseJson, pauseWords } from "../../functions/core/reads/tick-facts.js";
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

async function pause(
  io: Io,
  job: Job,
  reason: string,
  until: Date | undefined,
  json: boolean,
): Promise<number> {
  return withPool(io, async (pool, where) => {
    const paused = await pauseTask(pool, { task: job.name, reason, pausedBy: operator(io), until });
    if (json) io.out(JSON.stringify({ paused: pauseJson(paused) }, null, 2));
    else
      io.out(
        `${job.name}: ${pauseWords(pauseJson(paused))} (${where})\nIts ticks now answer "paused" and do nothing; \`${CLI} resume ${job.name}\` ends it.`,
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
