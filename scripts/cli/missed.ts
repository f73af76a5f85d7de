/** `missed`: the schedule times since then with no successful run, and the commands that run them. */
import { fireTimesBetween } from "../../functions/core/schedule/fire-times.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
import { DEFAULT_TICK_LIMIT, MAX_TICK_LIMIT } from "../lib/backfill.js";
import { EXIT } from "../lib/exit-codes.js";
import type { CliCommand } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { CLI, iso } from "./io.js";
import { parseTime } from "./times.js";

const flags = {
  since: { type: "string" },
} as const satisfies Options;

/** A tick younger than this may still be running: not reported as missed. */
const IN_FLIGHT_GRACE_MS = 60_000;

interface MissedTicks {
  readonly task: string;
  readonly missed: string[];
  readonly until: Date;
}

/** Each task's missed ticks, as commands to run from the project's directory. */
function printMissed(io: Io, results: readonly MissedTicks[]): void {
  for (const { task, missed, until } of results) {
    if (missed.length === 0) {
      io.out(`  ${task}: none`);
      continue;
    }
    io.out(`  ${task}: ${missed.length} missed; to run them (from the project's directory):`);
    for (const time of missed.slice(-5)) io.out(`    ${CLI} run ${task} --slot ${time}`);
    if (missed.length > 5) io.out(`    ... and ${missed.length - 5} earlier (--json lists all)`);
    if (missed.length > 1 && missed.length <= MAX_TICK_LIMIT) {
      const limit = missed.length > DEFAULT_TICK_LIMIT ? ` --limit ${missed.length}` : "";
      io.out(
        `    or all of them, oldest first: ${CLI} backfill ${task} --since ${missed[0]} --until ${iso(until)}${limit}`,
      );
    }
  }
}

async function listMissed(io: Io, jobs: readonly Job[], since: Date, json: boolean): Promise<number> {
  const now = io.now();
  const { historyBegins, succeededSlots } = await import("../../functions/core/reads/history.js");
  return withPool(io, async (pool) => {
    const begins = await historyBegins(pool);
    // A brand-new stack has no history: the ticks before it are not missed, they were never due here.
    const from = begins === null ? now : new Date(Math.max(since.getTime(), begins.getTime()));
    const results: MissedTicks[] = [];
    for (const job of jobs.filter((j) => !j.paused)) {
      const until = new Date(now.getTime() - Math.max(IN_FLIGHT_GRACE_MS, job.attemptDeadlineSeconds * 1000));
      const done = (await succeededSlots(pool, from, until)).get(job.name) ?? new Set<number>();
      const missed =
        from < until ? fireTimesBetween(job, from, until, 100_000).filter((t) => !done.has(t.getTime())) : [];
      results.push({ task: job.name, missed: missed.map((t) => iso(t)), until });
    }
    if (json) {
      const report = {
        since: since.toISOString(),
        historyBegins: begins?.toISOString() ?? null,
        countedFrom: from.toISOString(),
        tasks: results.map(({ task, missed }) => ({ task, missed })),
      };
      io.out(JSON.stringify(report, null, 2));
      return EXIT.ok;
    }
    if (begins === null) {
      io.out(
        "No run is recorded yet: the history begins with the first run, so no schedule time counts as missed.",
      );
      return EXIT.ok;
    }
    const counted =
      from > since ? `${iso(from)} (when the run history begins; asked from ${iso(since)})` : iso(since);
    io.out(`Schedule times since ${counted} with no successful run (paused jobs left out):`);
    printMissed(io, results);
    return EXIT.ok;
  });
}

export const missedCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: "missed [--since <time>]",
    summary: `schedule times with no successful run since then (default: 24 h ago),
counted from when the run history begins at the earliest`,
    maxArgs: 0,
    flags,
  },
  run: ({ io, flags: given, json, jobs }) => {
    const sinceText = given.text("since");
    const since =
      sinceText === undefined
        ? new Date(io.now().getTime() - 86_400_000)
        : parseTime(sinceText, "--since", io, "ago");
    return listMissed(io, jobs, since, json);
  },
};
