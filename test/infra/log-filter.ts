/**
 * Evaluates the small subset of Cloud Logging's query language that the stack's log-based metrics
 * use, against a structured log line, so the tests can check a filter against the lines the runner
 * really writes. Supported: `a AND b`, `NOT clause`, `field="v"`, `field:*`, `field=~"regex"`,
 * `severity>=LEVEL`, `severity=LEVEL`. `resource.*` clauses hold for the given resource labels.
 */
const SEVERITIES = [
  "DEFAULT",
  "DEBUG",
  "INFO",
  "NOTICE",
  "WARNING",
  "ERROR",
  "CRITICAL",
  "ALERT",
  "EMERGENCY",
];

export function matchesFilter(
  filter: string,
  entry: Record<string, unknown>,
  resource: Record<string, string>,
): boolean {
  const clauses = filter.split(/\s+AND\s+/);
  return clauses.every((raw) => {
    const negated = raw.startsWith("NOT ");
    const clause = negated ? raw.slice(4) : raw;
    const result = evaluate(clause.trim(), entry, resource);
    return negated ? !result : result;
  });
}

function evaluate(clause: string, entry: Record<string, unknown>, resource: Record<string, string>): boolean {
  let match = /^severity(>=|=)([A-Z]+)$/.exec(clause);
  if (match) {
    const have = SEVERITIES.indexOf(String(entry.severity ?? "DEFAULT"));
    const want = SEVERITIES.indexOf(match[2]!);
    return match[1] === ">=" ? have >= want : have === want;
  }
  match = /^([\w.]+):\*$/.exec(clause);
  if (match) return lookup(match[1]!, entry, resource) !== undefined;
  match = /^([\w.]+)=~"(.*)"$/.exec(clause);
  if (match) {
    const value = lookup(match[1]!, entry, resource);
    return value !== undefined && new RegExp(match[2]!).test(String(value));
  }
  match = /^([\w.]+)="(.*)"$/.exec(clause);
  if (match) return String(lookup(match[1]!, entry, resource)) === match[2];
  throw new Error(`unsupported filter clause: ${clause}`);
}

function lookup(path: string, entry: Record<string, unknown>, resource: Record<string, string>): unknown {
  if (path.startsWith("resource.")) return resource[path.slice("resource.".length)];
  if (path.startsWith("jsonPayload.")) return entry[path.slice("jsonPayload.".length)];
  return entry[path];
}
