/**
 * `npm run build`: the deployable function in dist/function/ (scripts/generate/bundle.ts says what
 * it holds and why), or in the folder given as the first argument.
 */
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "./generate/bundle.js";

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
console.log(`built in ${Math.round(performance.now() - started)} ms`);
