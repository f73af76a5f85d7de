/**
 * Builds the deployable function once before the reliability suite: the suite tests the bundle in
 * `dist/function/` that would be deployed, not the sources.
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

export default function setup(): void {
  execFileSync("npm", ["run", "build", "--silent"], {
    cwd: resolve(import.meta.dirname, "../.."),
    stdio: ["ignore", "ignore", "inherit"],
  });
}
