/**
 * The operator CLI (`scheduled-jobs`, `npm run cli --`): the jobs, their history and health, a run
 * now, and the ticks to backfill, against DATABASE_URL or the local stack that `npm start` runs.
 * `npm run task -- <task>` is this CLI's `run <task> --direct --json`.
 *
 * This file is the entry and the table of commands; each command (its spec, parsing and action)
 * is a module of scripts/cli/, and what they share (the Io, the database, job lookup, times, a
 * task's run, a series of runs) is there too. Errors are scripts/lib/exit-codes.ts's ToolError,
 * and exit with that table's codes, shared with `npm run migrate` and `npm run new-task`.
 */
import { ScheduledTaskError } from "../functions/core/errors.js";
import { backfillCommand } from "./cli/backfill.js";
import type { CliCommand } from "./cli/command.js";
import { flagsOf } from "./cli/command.js";
import { envCommand } from "./cli/env.js";
import { forceRunCommand } from "./cli/force-run.js";
import { healthCommand } from "./cli/health.js";
import { historyCommand } from "./cli/history.js";
import type { Io } from "./cli/io.js";
import { CLI, defaultIo } from "./cli/io.js";
import { loadJobs } from "./cli/job-lookup.js";
import { jobsCommand } from "./cli/jobs.js";
import { missedCommand } from "./cli/missed.js";
import { pauseCommand } from "./cli/pause.js";
import { planCommand } from "./cli/plan.js";
import { replayCommand } from "./cli/replay.js";
import { requeueCommand } from "./cli/requeue.js";
import { resumeCommand } from "./cli/resume.js";
import { runCommand } from "./cli/run.js";
import { tokenCommand } from "./cli/token.js";
import { commandUsage, usageOf } from "./cli/usage.js";
import type { Options, Parsed } from "./lib/args.js";
import { didYouMean, errorOutput, parseCommandLine, UsageError, wantsJson } from "./lib/args.js";
import type { ExitName } from "./lib/exit-codes.js";
import { EXIT, ToolError } from "./lib/exit-codes.js";

export type { Io } from "./cli/io.js";

/** Every command, in the order `--help` lists them. */
const commands: Readonly<Record<string, CliCommand>> = {
  jobs: jobsCommand,
  plan: planCommand,
  run: runCommand,
  "force-run": forceRunCommand,
  missed: missedCommand,
  backfill: backfillCommand,
  replay: replayCommand,
  history: historyCommand,
  health: healthCommand,
  requeue: requeueCommand,
  pause: pauseCommand,
  resume: resumeCommand,
  token: tokenCommand,
  env: envCommand,
};

export const commandNames = Object.keys(commands);

const usage = usageOf(Object.values(commands).map((command) => command.spec));

/**
 * Every command's flags, and --json and --help, for the one parser: a flag is parsed before the
 * command is known, so a name means one kind of value (string or boolean) for every command.
 */
function allFlags(): Options {
  const all: Options = {
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  };
  for (const [command, { spec }] of Object.entries(commands)) {
    for (const [name, option] of Object.entries(spec.flags)) {
      const known = all[name];
      if (known && known.type !== option.type)
        throw new Error(`${command}'s --${name} is a ${option.type}, another command's a ${known.type}`);
      all[name] = option;
    }
  }
  return all;
}

const options = allFlags();

export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const json = wantsJson(argv);
  const fail = (exit: ExitName, message: string): number => {
    io.err(errorOutput(json, "scheduled-jobs", exit, EXIT[exit], message));
    return EXIT[exit];
  };
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (error instanceof ToolError) return fail(error.exit, error.message);
    if (error instanceof ScheduledTaskError && error.code === "unavailable")
      return fail("unreachable", error.message);
    return fail("error", (error as Error).message);
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv);
  const [name, ...args] = positionals;
  if (values.help || name === "help") {
    const about = name === "help" ? args[0] : name;
    io.out(
      about !== undefined && Object.hasOwn(commands, about) ? commandUsage(commands[about]!.spec) : usage,
    );
    return EXIT.ok;
  }
  const command = commandNamed(name);
  checkCall(name!, command, args, values);
  return command.run({ io, args, flags: flagsOf(values), json: values.json === true, jobs: loadJobs(io) });
}

/** The command line parsed; a mistake in it names the command it was for and where its usage is. */
function parse(argv: readonly string[]): Parsed {
  try {
    return parseCommandLine(argv, options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const positional = argv.find((arg) => !arg.startsWith("-"));
    const known = positional !== undefined && Object.hasOwn(commands, positional) ? positional : undefined;
    const help = `run \`${CLI} ${known ?? ""}${known ? " " : ""}--help\` for the usage`;
    throw new ToolError("usage", `${known ? `${known}: ` : ""}${error.message}; ${help}`);
  }
}

/** The command of that name; a mistyped one is one line: what was typed, the nearest, where the rest is. */
function commandNamed(name: string | undefined): CliCommand {
  if (!name) throw new ToolError("usage", `a command is required\n\n${usage}`);
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command)
    throw new ToolError(
      "usage",
      `unknown command "${name}"${didYouMean(name, commandNames)}; run \`${CLI} --help\` for every command`,
    );
  return command;
}

/** At most the command's words, and only its flags. */
function checkCall(
  name: string,
  command: CliCommand,
  args: readonly string[],
  values: Parsed["values"],
): void {
  const { maxArgs, flags } = command.spec;
  if (args.length > maxArgs) throw new ToolError("usage", `${name}: unexpected argument "${args[maxArgs]}"`);
  const takes = Object.keys(flags);
  for (const [flag, value] of Object.entries(values)) {
    if (["json", "help"].includes(flag) || value === undefined || value === false) continue;
    if (!takes.includes(flag)) {
      const hint = takes.length === 0 ? "it takes no options but --json" : `it takes --${takes.join(", --")}`;
      throw new ToolError("usage", `${name} does not take --${flag}: ${hint}`);
    }
  }
}

/** `scheduled-jobs history | head`: a closed pipe ends the output, not with a stack trace. */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

// `tsx scripts/cli.ts ...` as well as the bin.
if (process.argv[1] && /scripts[\\/]cli\.ts$/.test(process.argv[1])) {
  exitQuietlyOnClosedPipe();
  process.exitCode = await main(process.argv.slice(2));
}
