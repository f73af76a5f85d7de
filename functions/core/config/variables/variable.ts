/**
 * The shape of one environment variable's entry in the function's table
 * (../environment.ts): its documentation, whether it is secret, required or defaulted, and the
 * parser and writer the function, the Pulumi program, the local stack and the tests all use. The
 * entries live by section beside this file; the shared parsing helpers live here.
 *
 * Loaded at every cold start: dependency-free, no I/O.
 */

export type Env = Readonly<Record<string, string | undefined>>;

/** The sections of docs/configuration.md, in order. */
export const groups = {
  database: "Database",
  auth: "Authentication of callers",
  email: "Email tasks",
  schedule: "Schedules",
  http: "HTTP tasks",
  platform: "Platform",
} as const;
export type Group = keyof typeof groups;

export interface Variable<T> {
  readonly name: string;
  readonly group: Group;
  /** One line for docs/configuration.md (Markdown, like `required`, `unset` and `deployed`). */
  readonly doc: string;
  /**
   * A credential, or text that may hold one (a connection string's password): no problem quotes its
   * value, and the Pulumi program never deploys it as plain text.
   */
  readonly secret: boolean;
  /** When the function refuses to start without it: "yes", "no" or the condition. */
  readonly required: string;
  /** The value an unset variable means. */
  readonly default?: T;
  /** What an unset variable means, where the default alone does not say it. */
  readonly unset?: string;
  /** What the Pulumi program sets it to; absent when the deployed function does not have it. */
  readonly deployed?: string;
  /** The one cloud whose stacks deploy it (Google's function or AWS's Lambda); both when absent. */
  readonly deployedOn?: "gcp" | "aws";
  /** A value the function accepts (for the docs, and the tests' round trip). */
  readonly example: string;
  /** The problem when it is required and unset. */
  readonly missing?: string;
  /**
   * Reads the text of a set variable (trimmed, never empty) as the function does; each problem goes
   * to `problems`, naming the variable, and then the result is not to be used.
   */
  parse(text: string, problems: string[]): T | undefined;
  /** The text that the function reads back as `value`. */
  write(value: T): string;
  /** True for a value that means the same as unset: writers leave the variable out. */
  omit?(value: T): boolean;
}

export type Definition<T> = Omit<Variable<T>, "name">;

export function define<T>(definition: Definition<T>): Definition<T> {
  return definition;
}

const emailPattern = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

/** The one address rule: what SendGrid takes as a sender and what the function takes anywhere. */
export function isEmailAddress(value: string): boolean {
  return emailPattern.test(value);
}

export function listOf(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

export function urlOf(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Runs checks that push problems; the value only when none did. */
export function checked<T>(problems: string[], check: () => T): T | undefined {
  const before = problems.length;
  const value = check();
  return problems.length > before ? undefined : value;
}

export const asText = (value: string): string => value;
