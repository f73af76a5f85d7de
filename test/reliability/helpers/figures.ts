/**
 * The suite's figures (inputs tried, answers, duplicates, faults, latency): printed, and merged into
 * test-results/reliability.json so a run leaves one file with all of them.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

const file = resolve(import.meta.dirname, "../../../test-results/reliability.json");

export function recordFigures(section: string, figures: Record<string, unknown>): void {
  let all: Record<string, unknown>;
  try {
    all = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    all = {};
  }
  all[section] = { ...figures, at: new Date().toISOString() };
  mkdirSync(resolve(file, ".."), { recursive: true });
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
  console.log(`[reliability] ${section}: ${JSON.stringify(figures)}`);
}
