/**
 * `npm run cli -- plan --stack Pulumi.dev.yaml` as an operator types it (npm, tsx and the CLI
 * included), timed from spawn to exit: without a database, and with the largest steady-state data
 * set (its drift, and each task's dry run), beside `npm run cli -- --help`, the CLI's own floor.
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childEnv } from "../scripts/local/child-env.js";
import type { BenchContext } from "./lib/context.js";
import { count } from "./lib/context.js";
import { projectRoot } from "./lib/child.js";
import { median, now } from "./lib/measure.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";

const SECTION = "plan: a schedule change before it ships";
const PLAN = ["run", "-s", "cli", "--", "plan", "--stack", "Pulumi.dev.yaml"];

/** Wall time of `npm <args>` from spawn to exit, median of `runs` after one that fills the file cache. */
async function timeNpm(args: readonly string[], env: NodeJS.ProcessEnv, runs: number): Promise<number[]> {
  const all: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const start = now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn("npm", [...args], { cwd: projectRoot, env, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      child.on("error", reject);
      child.on("exit", (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`npm ${args.join(" ")} exited ${code}: ${err.slice(0, 500)}`)),
      );
    });
    if (i > 0) all.push(now() - start);
  }
  return all;
}

export async function planFigures(
  context: BenchContext,
  dataset: { orders: number; url: string },
): Promise<Figure[]> {
  const runs = context.options.smoke ? 2 : 5;
  // No local stack either: a state file of `npm start` would give plan a database.
  const bare = childEnv({ LOCAL_DATA_DIR: mkdtempSync(join(tmpdir(), "bench-plan-")) });
  const floor = await timeNpm(["run", "-s", "cli", "--", "--help"], bare, runs);
  const alone = await timeNpm(PLAN, bare, runs);
  const withDatabase = await timeNpm(PLAN, { ...bare, DATABASE_URL: dataset.url }, runs);
  context.log(
    `  --help ${median(floor).toFixed(0)} ms, plan ${median(alone).toFixed(0)} ms, with ${count(dataset.orders)} orders ${median(withDatabase).toFixed(0)} ms`,
  );
  const common = {
    section: SECTION,
    unit: "ms" as const,
    reference: "`npm run cli -- --help` (npm, tsx and the CLI)",
    referenceValue: median(floor),
  };
  return [
    figure({
      ...common,
      name: `the dev stack, no database (p50 of ${runs})`,
      value: median(alone),
      goal: "< 2 s",
      verdict: median(alone) < 2000 ? "pass" : "short",
      details: { runs: alone, floor },
    }),
    figure({
      ...common,
      name: `the dev stack, with ${count(dataset.orders)} orders: drift and each task's dry run (p50 of ${runs})`,
      value: median(withDatabase),
      goal: "< 10 s",
      verdict: median(withDatabase) < 10_000 ? "pass" : "short",
      details: { runs: withDatabase, floor },
    }),
  ];
}
