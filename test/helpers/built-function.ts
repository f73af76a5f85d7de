/**
 * The deployable bundle (`npm run build`'s code, into a folder of its own) served by the real
 * `functions-framework` CLI in a child process, as Cloud Run serves it: for tests that need the
 * function as deployed, including killing its process mid-run.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildResult } from "../../scripts/generate/bundle.js";
import { build } from "../../scripts/generate/bundle.js";
import { childEnv } from "../../scripts/local/child-env.js";
import { freePort } from "../../scripts/local/embedded-postgres.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
// The package's exports hide its CLI; its entry point sits next to it.
const frameworkCli = join(
  dirname(createRequire(import.meta.url).resolve("@google-cloud/functions-framework")),
  "main.js",
);

/** Builds the bundle inside the project, so it resolves its external packages from node_modules. */
export async function buildFunction(): Promise<BuildResult & { remove(): void }> {
  const built = await build(join(root, "dist", `.test-function-${randomBytes(4).toString("hex")}`));
  return { ...built, remove: () => rmSync(built.outDir, { recursive: true, force: true }) };
}

export interface ServedFunction {
  readonly url: string;
  /** Everything the process wrote. */
  readonly output: string[];
  /** Stops the process with this signal (SIGKILL: a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function serveBuilt(outDir: string, env: Record<string, string>): Promise<ServedFunction> {
  const port = await freePort();
  const output: string[] = [];
  const child: ChildProcess = spawn(
    process.execPath,
    [frameworkCli, `--source=${outDir}`, "--target=scheduledTasks", `--port=${port}`],
    { cwd: root, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`functions-framework exited with ${child.exitCode}: ${output.join("")}`);
    }
    try {
      await fetch(`http://127.0.0.1:${port}/health`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`functions-framework did not listen: ${output.join("")}`);
      await new Promise((next) => setTimeout(next, 50));
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
