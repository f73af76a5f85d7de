/**
 * What a CLI command reads and writes besides the database: the environment, the two streams, the
 * clock and the project's directory, given by `main` so a test pins the clock and reads the output.
 * Also how the CLI prints times, tables and run-time pauses (in the core's words).
 */
import type { TaskDefinition } from "../../functions/core/catalog.js";
import type { PgCronSetupCheck } from "../../functions/core/reads/pg-cron-setup.js";
import { pgCronSetupWarning } from "../../functions/core/reads/pg-cron-setup.js";
import type { PauseJson } from "../../functions/core/reads/tick-facts.js";
import { pauseWords } from "../../functions/core/reads/tick-facts.js";

export interface Io {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly now: () => Date;
  /** Where `.data/` is (the local stack's state). */
  readonly root: string;
  /** The task catalog; functions/core/catalog.ts when absent (tests give one with a pg_cron task). */
  readonly catalog?: readonly TaskDefinition[];
}

export const defaultIo: Io = {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  now: () => new Date(),
  root: process.cwd(),
};

/** How the printed commands start: what runs from the project's directory as printed. */
export const CLI = "npm run cli --";

/** A time as the CLI prints it: ISO 8601 to the second, "-" for none. */
export const iso = (date: Date | string | null | undefined): string =>
  date ? new Date(date).toISOString().replace(/\.\d{3}Z$/, "Z") : "-";

/** Columns padded to their widest cell, under a header and a rule. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Under a table of tasks: each run-time pause in force, in the words every surface uses. */
export function printPauses(
  io: Io,
  tasks: readonly { readonly task: string; readonly pause: PauseJson | null }[],
): void {
  const paused = tasks.filter((t) => t.pause);
  if (paused.length > 0) io.out(["", ...paused.map((t) => `${t.task}: ${pauseWords(t.pause!)}`)].join("\n"));
}

/**
 * On stderr, loudly, whatever the format: the database's pg_cron runs a setup that disagrees with
 * the stack file this command read (`file`).
 */
export function printPgCronWarning(io: Io, check: PgCronSetupCheck | null, file: string): void {
  const warning = check ? pgCronSetupWarning(check, file) : undefined;
  if (warning) io.err(warning);
}
