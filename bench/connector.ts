/**
 * The Cloud SQL Node.js Connector's load cost. The function loads it only when
 * INSTANCE_CONNECTION_NAME is set (a DATABASE_URL needs only pg), so it is measured as what it adds
 * to a process that has loaded pg: the same process with and without it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "./lib/context.js";
import { projectRoot, timeProcess } from "./lib/child.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";

const SECTION = "Cloud SQL connector (loaded only with INSTANCE_CONNECTION_NAME)";

export async function connector(context: BenchContext): Promise<Figure[]> {
  const runs = context.options.smoke ? 2 : 7;
  const version = (
    JSON.parse(
      readFileSync(join(projectRoot, "node_modules/@google-cloud/cloud-sql-connector/package.json"), "utf8"),
    ) as { version: string }
  ).version;
  const withoutIt = await timeProcess(`await import("pg");`, { runs });
  const withIt = await timeProcess(
    `await import("pg");
     const start = performance.now();
     await import("@google-cloud/cloud-sql-connector");
     process.stdout.write(String(performance.now() - start));`,
    { runs },
  );
  context.log(`  pg alone ${withoutIt.p50.toFixed(0)} ms, pg + connector ${withIt.p50.toFixed(0)} ms`);
  return [
    figure({
      section: SECTION,
      name: `process that loads pg and the connector ${version} (p50 of ${runs})`,
      value: withIt.p50,
      unit: "ms",
      reference: "the same process with pg alone (DATABASE_URL)",
      referenceValue: withoutIt.p50,
      goal: "known and reported; paid only with INSTANCE_CONNECTION_NAME",
      verdict: "info",
      note: `the connector's import alone: ${Number(withIt.output).toFixed(0)} ms (last run); version ${version}, the lightest measured in the design notes (1.13.0 took about 3x longer)`,
      details: { version, withIt: withIt.all, withoutIt: withoutIt.all },
    }),
  ];
}
