/**
 * The function's environment contract: one table of every variable the function reads, each with
 * the parser the function itself reads it with, the writer that turns a typed value into its text,
 * one line of documentation, and whether it is secret, required or defaulted. Modelled on
 * functions-framework's `src/options.ts` (one table of options: flag, env var, default, validator).
 *
 * The function reads through it (functions/core/config/function-config.ts); the Pulumi program (infra/gcp/function.ts), the
 * local stack (scripts/local/local-stack.ts), the benchmarks and the tests write through it, and infra
 * checks the stack's values with these parsers, so a stack that deploys is one the function accepts.
 * docs/configuration.md is generated from it (`npm run docs:generate`).
 *
 * The entries live by section in ./variables/ (database, auth, email, schedule, http, platform);
 * this file joins them into the one table and reads and writes through it. It loads at every cold
 * start: it imports only dependency-free parts of the core (the catalog, the jobs rule, string
 * rules), no package, and does no I/O.
 */
import { authVariables } from "./variables/auth.js";
import { databaseVariables } from "./variables/database.js";
import { emailVariables } from "./variables/email.js";
import { httpVariables } from "./variables/http.js";
import { platformVariables } from "./variables/platform.js";
import { scheduleVariables } from "./variables/schedule.js";
import type { Definition, Env, Variable } from "./variables/variable.js";

export type { Env, Group, Variable } from "./variables/variable.js";
export { groups, isEmailAddress } from "./variables/variable.js";
export { googleCertsUrl } from "./variables/auth.js";
export type { EmailTransportChoice } from "./variables/email.js";
export type { IpType } from "./variables/database.js";

/** The table, section by section in the order of docs/configuration.md. */
const definitions = {
  ...databaseVariables,
  ...authVariables,
  ...emailVariables,
  ...scheduleVariables,
  ...httpVariables,
  ...platformVariables,
};

export type VariableName = keyof typeof definitions;
export type ValueOf<N extends VariableName> = (typeof definitions)[N] extends Definition<infer T> ? T : never;
/** Typed values of some variables, as writers hand them over. */
type EnvironmentValues = { readonly [N in VariableName]?: ValueOf<N> };

/** The table, by name. */
export const environment = Object.fromEntries(
  Object.entries(definitions).map(([name, definition]) => [name, { name, ...definition }]),
) as unknown as { readonly [N in VariableName]: Variable<ValueOf<N>> };

/** The table, in the order of the docs. */
export const variables: readonly Variable<unknown>[] = Object.values(environment);

function variableOf<N extends VariableName>(name: N): Variable<ValueOf<N>> {
  return environment[name] as Variable<ValueOf<N>>;
}

/** The text of a variable as the function sees it: trimmed; empty counts as unset. */
function textOf(env: Env, name: VariableName): string | undefined {
  const text = env[name]?.trim();
  return text ? text : undefined;
}

export function isSet(env: Env, name: VariableName): boolean {
  return textOf(env, name) !== undefined;
}

/** The variable's value (its default when unset), or undefined with its problems pushed. */
export function readVariable<N extends VariableName>(
  env: Env,
  name: N,
  problems: string[],
): ValueOf<N> | undefined {
  const variable = variableOf(name);
  const text = textOf(env, name);
  return text === undefined ? variable.default : variable.parse(text, problems);
}

/** As `readVariable`, for a variable the caller needs: unset is a problem, not its default. */
export function requireVariable<N extends VariableName>(
  env: Env,
  name: N,
  problems: string[],
): ValueOf<N> | undefined {
  if (!isSet(env, name)) {
    problems.push(variableOf(name).missing ?? `${name} is not set`);
    return undefined;
  }
  return readVariable(env, name, problems);
}

/** What the function would say about this text in this variable (empty: it accepts it). */
export function problemsWith(name: VariableName, text: string): string[] {
  const problems: string[] = [];
  const trimmed = text.trim();
  if (trimmed === "") problems.push(`${name} would be empty, which the function reads as unset`);
  else variableOf(name).parse(trimmed, problems);
  return problems;
}

export class EnvironmentError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`an environment the function would refuse: ${problems.join("; ")}`);
    this.name = "EnvironmentError";
  }
}

/** One variable's text, checked with the function's own parser (throws EnvironmentError). */
export function writeVariable<N extends VariableName>(name: N, value: ValueOf<N>): string {
  const text = variableOf(name).write(value);
  const problems = problemsWith(name, text);
  if (problems.length > 0) throw new EnvironmentError(problems);
  return text;
}

/**
 * The function's environment for these values, each written by its variable's writer and read
 * back by its parser: a value the function would refuse throws EnvironmentError naming every one.
 * Values that mean unset (an empty TASK_OVERRIDES) are left out, as are undefined ones.
 */
export function writeEnvironment(values: EnvironmentValues): Record<string, string> {
  const written: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values) as [VariableName, unknown][]) {
    if (value === undefined) continue;
    const variable = environment[name] as Variable<unknown> | undefined;
    if (!variable) {
      problems.push(`${name} is not a variable the function reads`);
      continue;
    }
    if (variable.omit?.(value)) continue;
    const text = variable.write(value);
    problems.push(...problemsWith(name, text));
    written[name] = text;
  }
  if (problems.length > 0) throw new EnvironmentError(problems);
  return written;
}
