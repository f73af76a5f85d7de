/**
 * The built function (`dist/function/`, from `npm run build`) served by functions-framework in a
 * child process, exactly as `npx functions-framework --source=dist/function --target=scheduledTasks`
 * serves it: the deployed bundle, over real HTTP, with its structured log captured line by line.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { childEnv } from "../../../scripts/local/child-env.js";
import { freePort } from "../../../scripts/local/embedded-postgres.js";
import { sendRaw } from "../../helpers/raw-http.js";

const root = resolve(import.meta.dirname, "../../..");
export const distDir = resolve(root, "dist/function");
const frameworkBin = resolve(root, "node_modules/.bin/functions-framework");

export interface FunctionProcess {
  readonly port: number;
  readonly pid: number;
  /** Every stdout line that parsed as JSON (the function's structured log). */
  readonly logs: ReadonlyArray<Record<string, unknown>>;
  /** stdout lines that were not JSON, and all of stderr. */
  readonly otherOutput: readonly string[];
  /** Null while the process runs. */
  exitCode(): number | null;
  stop(): Promise<void>;
}

/** Starts the built function with this environment (nothing inherited but PATH, HOME and the clock). */
export async function startFunction(env: Record<string, string>): Promise<FunctionProcess> {
  if (!existsSync(resolve(distDir, "index.js"))) {
    throw new Error(`${distDir}/index.js is missing: run \`npm run build\` first`);
  }
  const port = await freePort();
  // What `npx functions-framework` runs, without npx's own start-up time.
  const child: ChildProcess = spawn(
    process.execPath,
    [frameworkBin, `--source=${distDir}`, "--target=scheduledTasks", `--port=${port}`],
    {
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: Record<string, unknown>[] = [];
  const otherOutput: string[] = [];
  let code: number | null = null;
  const exited = new Promise<void>((done) =>
    child.once("exit", (exitCode, signal) => {
      code = exitCode ?? (signal ? 128 : 1);
      done();
    }),
  );
  const lines = (sink: (line: string) => void) => {
    let pending = "";
    return (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) if (line.trim()) sink(line);
    };
  };
  child.stdout!.on(
    "data",
    lines((line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        otherOutput.push(line);
      }
    }),
  );
  child.stderr!.on(
    "data",
    lines((line) => otherOutput.push(line)),
  );

  const handle: FunctionProcess = {
    port,
    pid: child.pid!,
    logs,
    otherOutput,
    exitCode: () => code,
    async stop() {
      if (code !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (code !== null) {
      throw new Error(`the function exited with ${code} at start:\n${otherOutput.join("\n")}`);
    }
    try {
      // Any answer means it listens; an unauthenticated health check touches nothing.
      await sendRaw(port, { method: "GET", path: "/health", headers: [] }, { timeoutMs: 2000 });
      return handle;
    } catch {
      if (Date.now() > deadline) {
        await handle.stop();
        throw new Error(`the function did not listen on ${port} within 20 s:\n${otherOutput.join("\n")}`);
      }
      await new Promise((done) => setTimeout(done, 100));
    }
  }
}
