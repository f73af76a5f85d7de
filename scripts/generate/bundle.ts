/**
 * The deployable Google function in dist/function/ (what `npm run build` writes, and what the local
 * stack, the tests and the benchmarks serve):
 *
 * - `index.js`: functions/gcp/index.ts and everything it needs, bundled by esbuild as ESM (the task SQL
 *   is inlined through functions/core/run/sql.generated.ts, regenerated first when sql/tasks changed, so the
 *   bundle has the SQL of the .sql files and the function reads no files). Modules
 *   loaded on first use (the health report, the email tasks) become chunks of their own under
 *   `chunks/`, so a SQL request never parses them.
 * - `package.json`: "type": "module", "main", engines, and as dependencies exactly the packages the
 *   bundle leaves external, at the versions of this project's package.json.
 *
 * `@google-cloud/functions-framework` must stay external: a bundled copy keeps its own registry of
 * functions, and the runtime's copy would then report "function not defined". The Cloud SQL
 * connector, Secret Manager, SendGrid and google-auth-library (the http tasks' ID tokens) stay
 * external too: they load only on first use, from the runtime's node_modules, and bundling them
 * (protobuf JSON, gRPC, Google auth) gains nothing there.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { refreshGeneratedSql } from "./sql.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Left out of the bundle: installed by the runtime from the generated package.json. */
const externalPackages = [
  "@google-cloud/functions-framework",
  "@google-cloud/cloud-sql-connector",
  "@google-cloud/secret-manager",
  "@sendgrid/mail",
  "google-auth-library",
] as const;

/** Optional requires of pg that never run here: not bundled, not installed. */
export const neverLoaded = ["pg-native"];

/**
 * pg and other CommonJS dependencies call require() for Node's built-ins; in an ES module esbuild
 * needs a real require to hand them to.
 */
export const esmRequireBanner =
  "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);";

/**
 * What both clouds' bundles are built with: one ES module with its lazily loaded parts split into
 * chunks, minified with source maps beside it. The deployed runtimes are Node.js 22; the machines
 * that build and test run Node.js 20, so the code is written for 20.
 */
export const sharedBuildOptions = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  banner: { js: esmRequireBanner },
  minify: true,
  legalComments: "linked",
  sourcemap: "linked",
  metafile: true,
  logLevel: "warning",
} as const satisfies esbuild.BuildOptions;

export interface BuildResult {
  readonly outDir: string;
  readonly files: { readonly path: string; readonly bytes: number }[];
  readonly dependencies: Record<string, string>;
  /** The generated files rewritten first because sql/tasks changed. */
  readonly regenerated: readonly string[];
}

function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

export async function build(outDir = join(root, "dist", "function")): Promise<BuildResult> {
  const regenerated = refreshGeneratedSql();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await esbuild.build({
    ...sharedBuildOptions,
    entryPoints: { index: "functions/gcp/index.ts" },
    outdir: outDir,
    external: [...externalPackages, ...neverLoaded],
  });

  const imported = new Set<string>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const entry of output.imports) {
      if (entry.external && !entry.path.startsWith("node:")) imported.add(packageOf(entry.path));
    }
  }
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const dependencies: Record<string, string> = {};
  for (const name of externalPackages) {
    // The framework is always needed; the others only when the bundle imports them.
    if (name !== "@google-cloud/functions-framework" && !imported.has(name)) continue;
    const version = manifest.dependencies[name];
    if (!version) throw new Error(`${name} is external to the bundle but not a dependency in package.json`);
    dependencies[name] = version;
  }
  writeFileSync(
    join(outDir, "package.json"),
    `${JSON.stringify(
      {
        name: "scheduled-tasks-function",
        private: true,
        type: "module",
        main: "index.js",
        engines: { node: ">=22" },
        dependencies,
      },
      null,
      2,
    )}\n`,
  );

  const files = Object.entries(result.metafile.outputs)
    .filter(([path]) => !path.endsWith(".map"))
    .map(([path, output]) => ({ path: relative(outDir, join(root, path)), bytes: output.bytes }));
  return { outDir, files, dependencies, regenerated };
}
