/**
 * The benchmark's command line. Sizes are flags so that a laptop, CI (`--smoke`) and a full run use
 * the same code:
 *
 *   --smoke                 tiny sizes and few repetitions (seconds; what CI may run)
 *   --orders=100k,1M,5M     order counts of the steady-state data sets (the every-minute tasks at
 *                           each; the daily tasks and per-call figures on the largest)
 *   --backlog=4M            rows to archive in the bulk archive figure (one data set each; 1M,4M
 *                           adds a smaller one; the 4M backlog is the one with goals)
 *   --only=minute,daily,archive,per-call,cold-start,http,email,connector,plan
 *   --cap=5s                how long a statement without its index may run before it is stopped
 *                           (the figure is then a lower bound: "> 5 s")
 *   --out=bench/results/<time>.json
 */
import { fileURLToPath } from "node:url";

const figureGroups = [
  "minute",
  "daily",
  "archive",
  "per-call",
  "cold-start",
  "http",
  "email",
  "connector",
  "plan",
] as const;
export type FigureGroup = (typeof figureGroups)[number];

export interface BenchOptions {
  readonly smoke: boolean;
  readonly orders: readonly number[];
  readonly backlog: readonly number[];
  readonly only: ReadonlySet<FigureGroup>;
  readonly capMs: number;
  /** Repetitions of a sub-millisecond statement, of a slower one, and of a timed call. */
  readonly runs: { readonly fast: number; readonly slow: number; readonly calls: number };
  readonly out: string;
}

export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim());
  if (!match) throw new Error(`not a size: "${text}" (e.g. 100k, 1M, 250000)`);
  const unit = match[2]!.toLowerCase();
  return Math.round(Number(match[1]) * (unit === "k" ? 1_000 : unit === "m" ? 1_000_000 : 1));
}

function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: "${text}" (e.g. 20s, 500ms)`);
  return Number(match[1]) * (match[2] === "ms" ? 1 : 1000);
}

export function parseOptions(argv: readonly string[], nowIso = new Date().toISOString()): BenchOptions {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument "${arg}"; see bench/lib/options.ts`);
    flags.set(match[1]!, match[2] ?? "true");
  }
  const known = new Set(["smoke", "orders", "backlog", "only", "cap", "out"]);
  for (const name of flags.keys()) {
    if (!known.has(name)) throw new Error(`unknown flag --${name}; known: ${[...known].join(", ")}`);
  }
  const smoke = flags.get("smoke") === "true";
  const list = (name: string, fallback: string): number[] =>
    (flags.get(name) ?? fallback).split(",").map(parseSize);
  const only = flags.get("only");
  const groups = only ? only.split(",").map((g) => g.trim()) : [...figureGroups];
  for (const group of groups) {
    if (!(figureGroups as readonly string[]).includes(group)) {
      throw new Error(`unknown figure group "${group}"; known: ${figureGroups.join(", ")}`);
    }
  }
  const orders = list("orders", smoke ? "2k,10k,40k" : "100k,1M,5M").sort((a, b) => a - b);
  const defaultOut = fileURLToPath(
    new URL(`../results/${nowIso.replace(/[:.]/g, "-")}${smoke ? "-smoke" : ""}.json`, import.meta.url),
  );
  return {
    smoke,
    orders,
    backlog: list("backlog", smoke ? "10k,40k" : "4M").sort((a, b) => a - b),
    only: new Set(groups as FigureGroup[]),
    capMs: parseDuration(flags.get("cap") ?? "5s"),
    runs: smoke ? { fast: 5, slow: 2, calls: 20 } : { fast: 50, slow: 7, calls: 300 },
    out: flags.get("out") ?? defaultOut,
  };
}
