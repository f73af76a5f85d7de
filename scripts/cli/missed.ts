/**
 * `missed`: the ticks since then that the tick rules call missed (functions/core/schedule/
 * tick-rules.ts: settled, counted, no run did their work, no pause held them back), and the
 * commands that run them; `backfill` plans from the same rules, so its dry run lists these.
 */
import type { TickHistory, TickState } from "../../functions/core/schedule/tick-rules.js";
import { judgeTicks, settledBound, ticksIn } from "../../functions/core/schedule/tick-rules.js";
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

interface MissedTicks {
  readonly task: string;
  readonly missed: string[];
  readonly heldBack: string[];
  readonly inFlight: string[];
  /** The latest instant a tick of the task is settled by: the end of the printed backfill's range. */
  readonly until: Date;
}

/** Each task's missed ticks, as commands to run from the project's directory. */
function printMissed(io: Io, results: readonly MissedTicks[]): void {
  for (const { task, missed, heldBack, until } of results) {
    const held = heldBack.length > 0 ? ` (${heldBack.length} held back by a pause, not counted)` : "";
    if (missed.length === 0) {
      io.out(`  ${task}: none${held}`);
      continue;
    }
    io.out(`  ${task}: ${missed.length} missed${held}; to run them (from the project's directory):`);
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

/** One task's ticks since `since` as the rules judge them at `now`. */
function missedOf(job: Job, history: TickHistory, since: Date, now: Date): MissedTicks {
  const judged = judgeTicks(job, history, { since, until: now }, now);
  const isos = (...states: TickState[]) => ticksIn(judged, ...states).map((t) => iso(t));
  return {
    task: job.name,
    missed: isos("missed"),
    heldBack: isos("held-back"),
    inFlight: isos("in-flight"),
    until: settledBound(job, now),
  };
}

async function listMissed(io: Io, jobs: readonly Job[], since: Date, json: boolean): Promise<number> {
  const now = io.now();
  const { historyBegins, readTickHistories } = await import("../../functions/core/reads/tick-facts.js");
  return withPool(io, async (pool) => {
    const begins = await historyBegins(pool);
    // Jobs paused in the stack's config have no ticks to miss: Cloud Scheduler sends none.
    const active = jobs.filter((job) => !job.paused);
    const histories = await readTickHistories(
      pool,
      active.map((job) => ({ task: job.name, since })),
    );
    const results = active.map((job) => missedOf(job, histories.get(job.name)!, since, now));
    const from = begins === null ? now : new Date(Math.max(since.getTime(), begins.getTime()));
    if (json) {
      const report = {
        since: since.toISOString(),
        historyBegins: begins?.toISOString() ?? null,
        countedFrom: from.toISOString(),
        tasks: results.map(({ task, missed, heldBack, inFlight }) => ({ task, missed, heldBack, inFlight })),
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
    io.out(
      `Ticks since ${counted} that no run did the work of (ticks still in flight, ticks a pause held back and jobs paused in the stack's config left out):`,
    );
    printMissed(io, results);
    return EXIT.ok;
  });
}

export const missedCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: "missed [--since <time>]",
    summary: `the ticks since then (default: 24 h ago) that no run did the work of: settled,
not held back by a pause, counted from when the run history begins at the
earliest (a tick tried before it counts too); the ones \`backfill\` runs`,
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
