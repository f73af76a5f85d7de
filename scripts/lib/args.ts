/**
 * The one argument parser of the command line tools: node:util's parseArgs, strict, with its
 * errors reworded. Node's own message for a typo ("Unknown option '--lmit'. To specify a positional
 * argument starting with a '-', place it at the end of the command after '--', as in '-- "--lmit"")
 * names no alternative; this one says "unknown option --lmit (did you mean --limit?)".
 */
import type { ParseArgsConfig } from "node:util";
import { parseArgs } from "node:util";
import { ToolError } from "./exit-codes.js";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** A mistake in how a tool was called: exit 2 (`usage`), with this message. */
export class UsageError extends ToolError {
  constructor(message: string) {
    super("usage", message);
  }
}

export interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

export function parseCommandLine(args: readonly string[], options: Options, allowPositionals = true): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals, strict: true });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    throw new UsageError(diagnose(args, options, allowPositionals) ?? nodeMessage(error));
  }
}

/** What is wrong, said plainly; undefined when Node's own reason has to do. */
function diagnose(args: readonly string[], options: Options, allowPositionals: boolean): string | undefined {
  const { tokens } = parseArgs({
    args: [...args],
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === "positional" && !allowPositionals) return `unexpected argument "${token.value}"`;
    if (token.kind !== "option") continue;
    const option = options[token.name];
    if (!option)
      return `unknown option ${token.rawName}${didYouMean(token.name, Object.keys(options), "--")}`;
    if (option.type === "boolean" && token.inlineValue) return `${token.rawName} takes no value`;
    if (
      option.type === "string" &&
      (token.value === undefined || (!token.inlineValue && token.value.startsWith("-")))
    )
      return `${token.rawName} needs a value`;
  }
  return undefined;
}

function nodeMessage(error: unknown): string {
  // Node's hint about '--' (with its unbalanced quote) is no help to someone who mistyped a flag.
  return (error as Error).message.replace(/\. To specify a positional argument.*$/s, "");
}

/** " (did you mean --limit?)" when one candidate is close to what was typed, else "". */
export function didYouMean(typed: string, candidates: readonly string[], prefix = ""): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(typed.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  const close =
    best !== undefined &&
    (bestDistance <= Math.max(1, Math.floor(typed.length / 3)) || best.startsWith(typed));
  return close ? ` (did you mean ${prefix}${best}?)` : "";
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * How a tool reports a failure: a line on stderr, or under --json one JSON object on stderr
 * ({"error": {"code", "exitCode", "message"}}), so a script that asked for JSON gets JSON.
 */
export function errorOutput(
  json: boolean,
  tool: string,
  code: string,
  exitCode: number,
  message: string,
): string {
  // Under --json the usage that follows a usage error (after a blank line) is left out: one line.
  return json
    ? JSON.stringify({ error: { code, exitCode, message: message.split("\n\n")[0] } })
    : `${tool}: ${message}`;
}

/** --json anywhere before a `--`: errors found while parsing are reported as JSON too. */
export function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--json");
}
