/**
 * The shape of one CLI command: its spec (usage line, summary, how many words, its flags) and its
 * action, which gets the parsed call. scripts/cli.ts holds the table of them and dispatches.
 */
import type { Job } from "../../functions/core/schedule/jobs.js";
import type { Options } from "../lib/args.js";
import type { Io } from "./io.js";

export interface CommandSpec<F extends Options = Options> {
  readonly synopsis: string;
  readonly summary: string;
  /** How many words may follow the command's name. */
  readonly maxArgs: number;
  /** Its flags, as node:util's parseArgs reads them; --json and --help are every command's. */
  readonly flags: F;
}

/** The flags given, read by their names in the command's spec. */
export interface Flags<F extends Options = Options> {
  /** A string flag's value; undefined when it was not given. */
  text(name: keyof F & string): string | undefined;
  /** Whether a boolean flag was given. */
  on(name: keyof F & string): boolean;
}

/** One call of a command, as parsed and checked against its spec. */
export interface Invocation<F extends Options = Options> {
  readonly io: Io;
  /** The words after the command's name, at most `maxArgs`. */
  readonly args: readonly string[];
  readonly flags: Flags<F>;
  readonly json: boolean;
  /** Every job of the stack (`resolveJobs` over its config file), whichever runner runs it. */
  readonly jobs: readonly Job[];
}

export interface CliCommand<F extends Options = Options> {
  readonly spec: CommandSpec<F>;
  run(call: Invocation<F>): Promise<number> | number;
}

export function flagsOf<F extends Options>(
  values: Readonly<Record<string, string | boolean | undefined>>,
): Flags<F> {
  return {
    text: (name) => {
      const value = values[name];
      return typeof value === "string" ? value : undefined;
    },
    on: (name) => values[name] === true,
  };
}
