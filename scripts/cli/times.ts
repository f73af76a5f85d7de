/**
 * Times as the CLI's flags take them: ISO 8601, or where a flag allows it a duration (90m, 6h, 2d)
 * counted back from now (--since, a backfill's --until) or ahead of it (pause's --until).
 */
import { ToolError } from "../lib/exit-codes.js";
import type { Io } from "./io.js";
import { iso } from "./io.js";

/** Which way a duration counts from now, for a flag that takes one. */
type Duration = "ago" | "ahead";

const UNIT_MS = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseTime(text: string, flag: string, io: Io, duration?: Duration): Date {
  const match = /^(\d+)\s*(m|min|h|d)$/i.exec(text);
  if (match && duration) {
    const span = Number(match[1]) * UNIT_MS[match[2]!.toLowerCase() as keyof typeof UNIT_MS];
    return new Date(io.now().getTime() + (duration === "ago" ? -span : span));
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  }
  const durations = {
    ago: " or a duration ago (90m, 6h, 2d)",
    ahead: " or a duration from now (30m, 6h, 2d)",
  };
  throw new ToolError(
    "usage",
    `${flag} "${text}" is not a time: use ISO 8601 (2026-11-29T04:15:00Z)${duration ? durations[duration] : ""}`,
  );
}

/** [--since, --until] of a backfill or a replay: --since required, --until now by default, no future. */
export function timeRange(
  io: Io,
  sinceText: string | undefined,
  untilText: string | undefined,
  command: string,
): { since: Date; until: Date } {
  if (sinceText === undefined)
    throw new ToolError("usage", `${command}: --since <time> is required (ISO 8601, or a duration ago: 2d)`);
  const now = io.now();
  const since = parseTime(sinceText, "--since", io, "ago");
  const until = untilText === undefined ? now : parseTime(untilText, "--until", io, "ago");
  if (until.getTime() > now.getTime())
    throw new ToolError(
      "usage",
      `--until ${iso(until)} is in the future: a tick that has not come is not run`,
    );
  if (since.getTime() > until.getTime())
    throw new ToolError("usage", `--since ${iso(since)} is after --until ${iso(until)}: nothing to run`);
  return { since, until };
}
