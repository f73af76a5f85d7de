/** `requeue --task <task>`: the emails that died queued again, for the task's next run to send. */
import type { Options } from "../lib/args.js";
import { EXIT, ToolError } from "../lib/exit-codes.js";
import type { CliCommand, Flags } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { parseTime } from "./times.js";

const flags = {
  task: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  address: { type: "string" },
  "dry-run": { type: "boolean", default: false },
} as const satisfies Options;

async function requeue(io: Io, given: Flags<typeof flags>, json: boolean): Promise<number> {
  const { requeueDeadEmails, requeueableTasks } = await import("../lib/requeue.js");
  const task = given.text("task");
  if (!task || !requeueableTasks.includes(task)) {
    throw new ToolError(
      "usage",
      `requeue: --task must be one of ${requeueableTasks.join(", ")}${task ? ` (not "${task}")` : ""}`,
    );
  }
  const fromText = given.text("from");
  const toText = given.text("to");
  const from = fromText === undefined ? undefined : parseTime(fromText, "--from", io, "ago");
  const to = toText === undefined ? undefined : parseTime(toText, "--to", io, "ago");
  const dryRun = given.on("dry-run");
  const count = await withPool(io, (pool) =>
    requeueDeadEmails(pool, { task, from, to, address: given.text("address"), dryRun }),
  );
  if (json) io.out(JSON.stringify({ task, requeued: dryRun ? 0 : count, matched: count, dryRun }));
  else
    io.out(
      dryRun
        ? `${task}: ${count} dead email(s) match; nothing changed (dry run)`
        : `${task}: ${count} dead email(s) queued again; the next run sends them`,
    );
  return EXIT.ok;
}

export const requeueCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis: "requeue --task <task> [--from <time>] [--to <time>] [--address <email>] [--dry-run]",
    summary: `queue again the emails that died (no run retries them): those queued in
[--from, --to), to that address; the next run sends them`,
    maxArgs: 0,
    flags,
  },
  run: ({ io, flags: given, json }) => requeue(io, given, json),
};
