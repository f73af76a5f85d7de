/**
 * `npm run build`: the deployable Google function in dist/function/ (scripts/generate/bundle.ts
 * says what it holds and why), or in the folder given as the first argument; and the deployable
 * Lambda in dist/lambda/ (scripts/generate/lambda-bundle.ts), or in the folder given as the second.
 */
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "./generate/bundle.js";
import { buildLambda } from "./generate/lambda-bundle.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const started = performance.now();
const built = await build(process.argv[2] ? resolve(process.argv[2]) : undefined);
if (built.regenerated.length > 0)
  console.log(`sql/tasks changed: regenerated ${built.regenerated.join(", ")}`);
for (const file of built.files)
  console.log(`${relative(root, join(built.outDir, file.path))}  ${(file.bytes / 1024).toFixed(1)} KiB`);
console.log(
  `${relative(root, join(built.outDir, "package.json"))}  dependencies: ${Object.keys(built.dependencies).join(", ")}`,
);
const lambda = await buildLambda(process.argv[3] ? resolve(process.argv[3]) : undefined);
const lambdaBytes = lambda.files.reduce((sum, file) => sum + file.bytes, 0);
console.log(
  `${relative(root, lambda.entry)}  ${(lambda.files.find((file) => file.path === "index.mjs")!.bytes / 1024).toFixed(1)} KiB (${lambda.files.length} files, ${(lambdaBytes / 1024).toFixed(1)} KiB in all, nothing external)`,
);
console.log(`built in ${Math.round(performance.now() - started)} ms`);
