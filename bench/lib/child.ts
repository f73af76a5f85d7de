/** Fresh Node.js processes, timed from spawn to exit: what a cold instance pays to load modules. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { median, now } from "./measure.js";

export const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Wall time of `node --input-type=module -e <code>` (node's own start-up included), median of `runs`. */
export async function timeProcess(
  code: string,
  options: { runs: number; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<{ p50: number; all: number[]; output: string }> {
  const all: number[] = [];
  let output = "";
  for (let i = 0; i < options.runs + 1; i++) {
    const start = now();
    output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
        cwd: options.cwd ?? projectRoot,
        env: options.env ?? process.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      child.on("error", reject);
      child.on("exit", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`node exited ${code}: ${err.slice(0, 500)}`)),
      );
    });
    // The first run fills the OS file cache; a cold instance has its files cached by then too.
    if (i > 0) all.push(now() - start);
  }
  return { p50: median(all), all, output };
}
