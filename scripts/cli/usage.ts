/** The CLI's usage text: every command's synopsis and summary, or one command's, with the footer. */
import { exitCodeLines } from "../lib/exit-codes.js";
import type { CommandSpec } from "./command.js";
import { CLI } from "./io.js";

const indent = (text: string, by: number): string => text.replaceAll("\n", `\n${" ".repeat(by)}`);

const footer = `Options: --json (machine-readable output; errors too, as JSON on stderr), --help
Database: DATABASE_URL, else the local stack that npm start runs (.data/postgres).
Times: ISO 8601 (2026-11-29T04:15:00Z) or, for --since (and a backfill's or replay's --until),
a duration ago (90m, 6h, 2d); for pause's --until, a duration from now (30m).
Exit codes:
${exitCodeLines()}`;

/** Every command, in the table's order. */
export function usageOf(specs: readonly CommandSpec[]): string {
  return `Usage: scheduled-jobs <command> [options]   (${CLI} <command> [options])

Commands:
${specs
  .map((spec) =>
    spec.synopsis.length < 34
      ? `  ${spec.synopsis.padEnd(34)}${indent(spec.summary, 36)}`
      : `  ${spec.synopsis}\n${" ".repeat(36)}${indent(spec.summary, 36)}`,
  )
  .join("\n")}

${footer}`;
}

/** One command's usage, for `<command> --help`. */
export function commandUsage(spec: CommandSpec): string {
  return `Usage: ${CLI} ${spec.synopsis} [--json]\n\n  ${indent(spec.summary, 2)}\n\n${footer}`;
}
