/** `resume <task>`: ends the task's run-time pause (the core's pause writer); its next tick runs. */
import { resumeTask } from "../../functions/core/actions/pauses.js";
import { pauseJson } from "../../functions/core/reads/tick-facts.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { EXIT } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { iso } from "./io.js";
import { jobOf, taskArgument } from "./job-lookup.js";
import { operator } from "./pause.js";

async function resume(io: Io, job: Job, json: boolean): Promise<number> {
  return withPool(io, async (pool) => {
    const resumed = await resumeTask(pool, job.name, operator(io));
    if (json) io.out(JSON.stringify({ resumed: resumed ? pauseJson(resumed) : null }, null, 2));
    else if (!resumed) io.out(`${job.name}: was not paused at run time; nothing to do`);
    else
      io.out(
        `${job.name}: resumed by ${resumed.resumedBy ?? ""} (paused by ${resumed.pausedBy} at ${iso(resumed.pausedAt)}: ${resumed.reason}); its next tick runs`,
      );
    return EXIT.ok;
  });
}

export const resumeCommand: CliCommand = {
  spec: {
    synopsis: "resume <task>",
    summary: "end the task's run-time pause: its next tick runs (and a missed one is overdue again)",
    maxArgs: 1,
    flags: {},
  },
  run: ({ io, args, json, jobs }) => resume(io, jobOf(jobs, taskArgument("resume", args)), json),
};
