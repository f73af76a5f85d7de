/**
 * Evaluates the subset of CloudWatch Logs' JSON filter patterns that the AWS stack's metric filters
 * use, against a log line, so a test can check a pattern against the lines the runner really writes
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
 * Supported: `{ expression }` of `&&`, `||` and parentheses over `$.field = "value"` and
 * `$.field != "value"` (a `*` at the value's start or end matching any text, `"*"` alone any value
 * of a field that exists), and `$.field IS TRUE` / `IS FALSE`. Anything else throws.
 */
type Line = Record<string, unknown>;

function wildcard(pattern: string, value: unknown): boolean {
  const start = pattern.startsWith("*");
  const end = pattern.endsWith("*") && pattern.length > 1;
  const core = pattern.slice(start ? 1 : 0, end ? -1 : undefined);
  if (core.includes("*")) throw new Error(`a wildcard inside a value is not supported: ${pattern}`);
  if (typeof value !== "string") return false;
  if (pattern === "*") return true;
  if (start && end) return value.includes(core);
  if (start) return value.endsWith(core);
  if (end) return value.startsWith(core);
  return value === core;
}

function condition(text: string, line: Line): boolean {
  let match = /^\$\.(\w+) (=|!=) "([^"]*)"$/.exec(text);
  if (match) {
    const [, field, operator, pattern] = match as unknown as [string, string, string, string];
    const matched = wildcard(pattern, line[field]) && field in line;
    // A field that is absent matches neither = nor != (the pattern only matches what it can read).
    return operator === "=" ? matched : field in line && !matched;
  }
  match = /^\$\.(\w+) IS (TRUE|FALSE)$/.exec(text);
  if (match) return line[match[1]!] === (match[2] === "TRUE");
  throw new Error(`unsupported condition: ${text}`);
}

/** Splits `a && b` or `a || b` at the top level (outside parentheses and quotes). */
function split(text: string, operator: "&&" | "||"): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === "(") depth++;
    else if (!quoted && c === ")") depth--;
    else if (!quoted && depth === 0 && text.startsWith(operator, i)) {
      parts.push(text.slice(start, i).trim());
      start = i + operator.length;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

function evaluate(text: string, line: Line): boolean {
  const either = split(text, "||");
  if (either.length > 1) return either.some((part) => evaluate(part, line));
  const both = split(text, "&&");
  if (both.length > 1) return both.every((part) => evaluate(part, line));
  if (text.startsWith("(") && text.endsWith(")")) return evaluate(text.slice(1, -1).trim(), line);
  return condition(text, line);
}

export function matchesPattern(pattern: string, line: Line): boolean {
  const match = /^\{ (.*) \}$/.exec(pattern);
  if (!match) throw new Error(`not a JSON filter pattern: ${pattern}`);
  return evaluate(match[1]!, line);
}
