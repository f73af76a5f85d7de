/**
 * `npm start` stopped the way IDEs and process managers stop it: a signal to the npm process. Every
 * piece (the start script, PostgreSQL, functions-framework) must exit and free its port, and the
 * output must say so. Runs the real `npm start` in a scratch data folder, on free ports.
 */
import type { ChildProcess } from "node:child_process";
import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { childEnv } from "../../scripts/local/child-env.js";
import { freePort } from "../../scripts/local/embedded-postgres.js";
import { portIsFree, ROOT } from "../../scripts/local/local-stack.js";

const dataDir = mkdtempSync(join(tmpdir(), "sj-start-signals-"));
// As root, PostgreSQL runs as the "postgres" user, who must reach its data folder inside this one.
chmodSync(dataDir, 0o755);
const started: number[] = [];

afterAll(() => {
  // A failed assertion must not leave a server behind.
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone: the expected case
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** Every process below `pid`, from /proc (Linux). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // exited while listing
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Running: a zombie (exited, not yet reaped by whichever process adopted it) counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function startNpm(): Promise<{ npm: ChildProcess; output: () => string; ports: number[] }> {
  const [functionPort, consolePort, appBackendPort] = [await freePort(), await freePort(), await freePort()];
  let output = "";
  const npm = spawn("npm", ["start", "--", "--no-scheduler"], {
    cwd: ROOT,
    env: childEnv({
      PORT: String(functionPort),
      CONSOLE_PORT: String(consolePort),
      APP_BACKEND_PORT: String(appBackendPort),
      LOCAL_DATA_DIR: dataDir,
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push(npm.pid!);
  npm.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  let exited = false;
  npm.on("exit", () => (exited = true));
  await waitFor("npm start to be ready", () => output.includes("Ctrl-C stops everything") || exited, 90_000);
  if (exited) throw new Error(`npm start exited before it was ready:\n${output}`);
  const pgPort = Number(/embedded PostgreSQL \(data in .*, port (\d+)\)/.exec(output)?.[1]);
  expect(pgPort).toBeGreaterThan(0);
  // The banner masks the password and names the command that prints the URL; that URL connects.
  expect(output).toMatch(/Database +postgres:\/\/postgres:\*\*\*@/);
  expect(output).toContain(`eval "$(npm run -s cli -- env)"`);
  const { stdout } = await promisify(execFile)("node", ["--import", "tsx", "scripts/cli.ts", "env"], {
    cwd: ROOT,
    env: childEnv({ LOCAL_DATA_DIR: dataDir }),
  });
  const url = /^export DATABASE_URL='(.+)'$/.exec(stdout.trim())?.[1];
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  expect((await client.query("SELECT current_database() AS db")).rows).toEqual([{ db: "delivery_app" }]);
  await client.end();
  expect(output).toContain(`App backend      http://127.0.0.1:${appBackendPort}`);
  return { npm, output: () => output, ports: [functionPort, consolePort, appBackendPort, pgPort] };
}

describe("npm start stopped by a signal to npm", () => {
  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    it(`when npm gets ${signal}, then the start script, PostgreSQL and functions-framework exit, their ports close, and it says it stopped`, async () => {
      const { npm, output, ports } = await startNpm();
      const tree = descendants(npm.pid!);
      started.push(...tree);
      const commands = tree.map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
        } catch {
          return "";
        }
      });
      // The pieces this test is about are really among the processes it watches.
      expect(commands.some((c) => c.includes("scripts/start.ts"))).toBe(true);
      expect(commands.some((c) => c.includes("functions-framework"))).toBe(true);
      expect(commands.some((c) => /bin\/postgres /.test(c))).toBe(true);
      for (const port of ports) expect(await portIsFree(port)).toBe(false);

      process.kill(npm.pid!, signal);

      await waitFor("every process of npm start to exit", () => tree.every((pid) => !alive(pid)), 30_000);
      for (const port of ports) expect(await portIsFree(port), `port ${port}`).toBe(true);
      await waitFor("the last words", () => output().includes("[start] stopped"), 5_000);
      expect(output()).toMatch(
        /\[start\] stopping \((SIGTERM|SIGHUP|the process that started it \(\d+\) is gone)\)/,
      );
    }, 150_000);
  }
});
