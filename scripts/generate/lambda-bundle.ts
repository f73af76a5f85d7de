/**
 * The deployable Lambda in dist/lambda/ (what `npm run build` writes beside dist/function/, and
 * what the tests, the local EventBridge emulation and the benchmarks load):
 *
 * - `index.mjs`: functions/aws/index.ts and everything it needs, bundled by esbuild as ESM (the
 *   function's handler setting is `index.handler`). Lambda installs nothing from a package.json
 *   (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-package.html), so nothing is external:
 *   pg, croner, SendGrid, the RDS signer, the Secrets Manager client and the RDS certificates are
 *   all in the folder.
 * - `chunks/`: what loads on first use (croner with the tick rules, pg, the RDS signer, the email
 *   tasks with SendGrid and the Secrets Manager client) in chunks of their own, so a SQL task's
 *   cold start parses no AWS SDK module; test/aws/lambda-bundle.test.ts holds it to that.
 *
 * The task SQL is inlined through functions/core/run/sql.generated.ts, regenerated first when
 * sql/tasks changed (the same step as the Google bundle's).
 */
import { rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { neverLoaded, sharedBuildOptions } from "./bundle.js";
import { refreshGeneratedSql } from "./sql.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const defaultLambdaDir = join(root, "dist", "lambda");

export interface LambdaBuildResult {
  readonly outDir: string;
  /** The entry the runtime loads: `<outDir>/index.mjs`. */
  readonly entry: string;
  /** Each output file (relative to `outDir`), its size and the source files bundled into it. */
  readonly files: { readonly path: string; readonly bytes: number; readonly inputs: readonly string[] }[];
  /** The generated files rewritten first because sql/tasks changed. */
  readonly regenerated: readonly string[];
}

export async function buildLambda(outDir = defaultLambdaDir): Promise<LambdaBuildResult> {
  const regenerated = refreshGeneratedSql();
  rmSync(outDir, { recursive: true, force: true });
  const result = await esbuild.build({
    ...sharedBuildOptions,
    entryPoints: { index: "functions/aws/index.ts" },
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    external: neverLoaded,
  });
  const files = Object.entries(result.metafile.outputs)
    .filter(([path]) => !path.endsWith(".map"))
    .map(([path, output]) => ({
      path: relative(outDir, join(root, path)),
      bytes: output.bytes,
      inputs: Object.keys(output.inputs),
    }));
  return { outDir, entry: join(outDir, "index.mjs"), files, regenerated };
}
