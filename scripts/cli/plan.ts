/**
 * `plan`: a stack's schedule before it ships: its calendar over a window (DST marked), warnings with
 * their cause and fix, its cost, and with a database what is deployed there now and what each task
 * would do if it fired now. The sections are built by scripts/plan/; this module reads the call.
 */
import { existsSync } from "node:fs";
import type { Options } from "../lib/args.js";
import { EXIT, ToolError } from "../lib/exit-codes.js";
import { defaultStackFile } from "../lib/jobs.js";
import { readLocalState } from "../local/local-state.js";
import type { CliCommand, Flags } from "./command.js";
import { withPool } from "./database.js";
import type { Io } from "./io.js";
import { table } from "./io.js";
import { parseTime } from "./times.js";

const flags = {
  stack: { type: "string" },
  days: { type: "string" },
  from: { type: "string" },
  format: { type: "string" },
  "exit-code": { type: "boolean", default: false },
  "read-only": { type: "boolean", default: false },
} as const satisfies Options;

const FORMATS = ["text", "json", "markdown"] as const;
type Format = (typeof FORMATS)[number];

/** The longest window: a year, enough to see both DST changes of any zone. */
const MAX_PLAN_DAYS = 366;

function daysOf(text: string | undefined): number {
  if (text === undefined) return 7;
  const days = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(days >= 1 && days <= MAX_PLAN_DAYS))
    throw new ToolError(
      "usage",
      `--days "${text}" must be a whole number of days from 1 to ${MAX_PLAN_DAYS}`,
    );
  return days;
}

function formatOf(given: Flags<typeof flags>, json: boolean): Format {
  const format = given.text("format") ?? (json ? "json" : "text");
  if (!(FORMATS as readonly string[]).includes(format))
    throw new ToolError("usage", `--format "${format}" must be one of ${FORMATS.join(", ")}`);
  if (json && format !== "json")
    throw new ToolError("usage", `--json and --format ${format} disagree: pick one`);
  return format as Format;
}

async function runPlan(io: Io, given: Flags<typeof flags>, json: boolean): Promise<number> {
  const format = formatOf(given, json);
  const days = daysOf(given.text("days"));
  const fromText = given.text("from");
  const from = fromText === undefined ? io.now() : parseTime(fromText, "--from", io);
  const stackFile =
    given.text("stack") ?? io.env.PULUMI_STACK_FILE ?? defaultStackFile(io.env.PULUMI_STACK ?? "dev");
  if (!existsSync(stackFile)) throw new ToolError("usage", `--stack ${stackFile}: no such file`);
  const { buildPlan } = await import("../plan/plan.js");
  const options = {
    stackFile,
    from,
    days,
    now: io.now(),
    readOnly: given.on("read-only"),
    ...(io.catalog ? { catalog: io.catalog } : {}),
  };
  let report;
  try {
    // Drift and impact need a database: DATABASE_URL, or the local stack's while it runs.
    report =
      io.env.DATABASE_URL || readLocalState(io.root)
        ? await withPool(io, (pool, where) => buildPlan({ ...options, database: { pool, where } }))
        : await buildPlan(options);
  } catch (error) {
    if (error instanceof ToolError) throw error;
    if (/YAML|JSON/.test((error as Error).message))
      throw new ToolError("usage", `${stackFile}: ${(error as Error).message}`);
    throw error;
  }
  const { renderMarkdown, renderText } = await import("../plan/render.js");
  if (format === "json") io.out(JSON.stringify(report, null, 2));
  else io.out(format === "markdown" ? renderMarkdown(report) : renderText(report, table));
  return given.on("exit-code") && report.warnings.length > 0 ? EXIT.failed : EXIT.ok;
}

export const planCommand: CliCommand<typeof flags> = {
  spec: {
    synopsis:
      "plan [--stack <file>] [--days N] [--from <time>] [--format text|json|markdown] [--exit-code] [--read-only]",
    summary: `the stack's schedule before it ships (default: the stack's file, 7 days
from now): each job's runner, schedule, zone, pauses and fire times (DST
changes marked), warnings with cause and fix, the cost a month at dated
prices; with a database, pg_cron's jobs and each task's pause and last
status against the stack, and each task's dry run now (--read-only: no
statement runs, nothing is written); --format markdown is a pull request
comment; --exit-code exits 1 on a warning`,
    maxArgs: 0,
    flags,
  },
  run: ({ io, flags: given, json }) => runPlan(io, given, json),
};
