/**
 * The Lambda bundle's cold start (`npm run build`, dist/lambda/) beside the Google bundle's: a
 * fresh process importing each (the module load, the import alone measured inside the process),
 * interleaved so both see the same machine. Google's process has Express loaded first, as
 * functions-framework has; Lambda's runtime imports the handler's module into its own process, so
 * the Lambda bundle is imported alone. Everything is in the Lambda bundle (Lambda installs
 * nothing), yet its top level loads what Google's does: the SDKs sit in chunks loaded on first use.
 */
import { join } from "node:path";
import { writeEnvironment } from "../functions/core/config/environment.js";
import { build } from "../scripts/generate/bundle.js";
import { buildLambda } from "../scripts/generate/lambda-bundle.js";
import { builtFunctionEnv, loadOnce } from "./cold-start.js";
import type { BenchContext } from "./lib/context.js";
import { median } from "./lib/measure.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";

const COLD = "Cold start (functions-framework, fresh process)";
const GROUP = "arn:aws:scheduler:us-east-1:123456789012:schedule-group/scheduled-jobs";

export async function lambdaFigures(context: BenchContext): Promise<Figure[]> {
  const { options, log } = context;
  const runs = options.smoke ? 3 : 9;
  log("  building the Google bundle and the Lambda bundle (npm run build)");
  const google = await build();
  const lambda = await buildLambda();
  const identity = createDevIdentity({ audience: "http://localhost:8080" });
  const certs = await serveCerts(identity);
  // No connection is made: each process exits as soon as the module has loaded.
  const databaseUrl = context.server.url("postgres");
  const googleEnv = builtFunctionEnv(databaseUrl, identity, certs, "cloud-run");
  const lambdaEnv = {
    PATH: process.env.PATH,
    ...writeEnvironment({ DATABASE_URL: databaseUrl, SCHEDULE_GROUP_ARN: GROUP }),
  };
  const googleEntry = join(google.outDir, "index.js");
  try {
    const load = {
      google: { process: [] as number[], import: [] as number[] },
      lambda: { process: [] as number[], import: [] as number[] },
    };
    await loadOnce(googleEntry, googleEnv);
    await loadOnce(lambda.entry, lambdaEnv, { framework: false });
    for (let i = 0; i < runs; i++) {
      const [gp, gi] = await loadOnce(googleEntry, googleEnv);
      const [lp, li] = await loadOnce(lambda.entry, lambdaEnv, { framework: false });
      load.google.process.push(gp);
      load.google.import.push(gi);
      load.lambda.process.push(lp);
      load.lambda.import.push(li);
    }
    const p50 = (values: number[]): number => median(values);
    log(
      `  Lambda bundle import p50 ${p50(load.lambda.import).toFixed(1)} ms, Google bundle ${p50(load.google.import).toFixed(1)} ms`,
    );
    const top = lambda.files.find((file) => file.path === "index.mjs");
    const bytes = lambda.files.reduce((sum, file) => sum + file.bytes, 0);
    return [
      figure({
        section: COLD,
        name: `module load of the Lambda bundle (import, p50 of ${runs})`,
        value: p50(load.lambda.import),
        unit: "ms",
        reference: "the Google bundle's import",
        referenceValue: p50(load.google.import),
        goal: "≤ 1.2x",
        verdict: p50(load.lambda.import) <= 1.2 * p50(load.google.import) ? "pass" : "short",
        note: `dist/lambda/index.mjs ${((top?.bytes ?? 0) / 1024).toFixed(0)} KiB, ${lambda.files.length} files and ${(bytes / 1024).toFixed(0)} KiB with every SDK in chunks loaded on first use; test/aws/lambda-bundle.test.ts holds its top level and a SQL task's run free of AWS SDK modules`,
      }),
      figure({
        section: COLD,
        name: "module load of the Lambda bundle (process, spawn to exit)",
        value: p50(load.lambda.process),
        unit: "ms",
        reference: "the Google bundle's process (Express loaded first, as the framework does)",
        referenceValue: p50(load.google.process),
        goal: "(Lambda's runtime loads no framework)",
        verdict: "info",
      }),
    ];
  } finally {
    await certs.close();
  }
}
