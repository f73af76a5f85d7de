/**
 * Cold start and warm overhead of the built function, side by side with a bare functions-framework
 * hello-world, on this machine:
 *
 * - module load: a fresh `node` process importing the entry module (whole process, spawn to exit,
 *   and the import alone, measured inside the process), runs interleaved so both see the same load;
 * - boot to first 200: `functions-framework --source=...` spawned, polled until it answers 200
 *   (for the function: a real task run, token verified, pool connected);
 * - warm per-request overhead: p50/p95 of a real task over HTTP against the built bundle, next to
 *   the runner called directly and the task's SQL alone on a warm connection.
 *
 * `npx tsx bench/cold-start.ts [--runs N] [--requests N] [--verify]`; uses DATABASE_URL or an embedded
 * PostgreSQL. Writes bench/results/cold-start.json. The functions are exported for the benchmark suite.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as functions from "@google-cloud/functions-framework";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import pg from "pg";
import type { AuthMode } from "../functions/core/config/auth-config.js";
import { createAuthenticator } from "../functions/gcp/auth.js";
import { findTask, tasks } from "../functions/core/catalog.js";
import { resolveJobs } from "../functions/core/schedule/jobs.js";
import { createPool } from "../functions/core/db/pool.js";
import { writeEnvironment } from "../functions/core/config/environment.js";
import { createLogger } from "../functions/core/log.js";
import { createHandler } from "../functions/gcp/router.js";
import { runTask } from "../functions/core/run/runner.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
import { build } from "../scripts/generate/bundle.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";
import type { EmbeddedServer } from "../scripts/local/embedded-postgres.js";
import { freePort, startEmbeddedPostgres } from "../scripts/local/embedded-postgres.js";
import { applyAppSchema, migrate } from "../scripts/lib/migrate.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const frameworkCli = join(
  dirname(createRequire(import.meta.url).resolve("@google-cloud/functions-framework")),
  "main.js",
);
const BENCH_TASK = "auto-cancel-unconfirmed-orders";

interface Summary {
  readonly runs: number;
  readonly p50: number;
  readonly p95: number;
  readonly min: number;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const round = (n: number): number => Math.round(n * 100) / 100;
  return { runs: sorted.length, p50: round(at(0.5)), p95: round(at(0.95)), min: round(sorted[0] ?? NaN) };
}

/**
 * A reference function, `dist/<name>/index.js` with these lines: written inside the project so that
 * it resolves the framework and the SDKs from its node_modules. Returns its folder (a `--source`).
 */
export function writeBenchFunction(name: string, lines: readonly string[]): string {
  const dir = join(root, "dist", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", main: "index.js" }));
  writeFileSync(join(dir, "index.js"), [...lines, ""].join("\n"));
  return dir;
}

/** A bare functions-framework hello-world. */
export function writeHelloWorld(): string {
  return writeBenchFunction("bench-hello-world", [
    "import * as functions from '@google-cloud/functions-framework';",
    "functions.http('scheduledTasks', (req, res) => { res.status(200).send('ok'); });",
  ]);
}

/**
 * The physical floor of a function that touches the database: the hello-world plus `pg`, one
 * connection opened on the first request and kept, and `statement` run on it per request. Nothing
 * else: no token check, no run record, no log line. What any such function must pay, cold or warm.
 */
export function writeDatabaseHelloWorld(statement: string): string {
  return writeBenchFunction("bench-pg-hello-world", [
    "import * as functions from '@google-cloud/functions-framework';",
    "import pg from 'pg';",
    `const statement = ${JSON.stringify(statement)};`,
    "let connected;",
    "functions.http('scheduledTasks', async (req, res) => {",
    "  connected ??= (async () => {",
    "    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });",
    "    await client.connect();",
    "    return client;",
    "  })();",
    "  const result = await (await connected).query(statement);",
    "  res.status(200).json({ rows: result.rowCount });",
    "});",
  ]);
}

/**
 * One fresh process importing `entry`: [spawn-to-exit ms, import ms measured inside]. With
 * `framework` (the default), Express is loaded first, as functions-framework has loaded it before
 * it loads a function's module; Lambda's runtime loads a handler's module into a bare process.
 */
export async function loadOnce(
  entry: string,
  env: NodeJS.ProcessEnv,
  { framework = true }: { readonly framework?: boolean } = {},
): Promise<[number, number]> {
  const express = createRequire(
    createRequire(import.meta.url).resolve("@google-cloud/functions-framework"),
  ).resolve("express");
  const script =
    (framework
      ? `import { createRequire } from "node:module"; createRequire(${JSON.stringify(express)})(${JSON.stringify(express)});`
      : "") +
    "const t0 = performance.now();" +
    `await import(${JSON.stringify(pathToFileURL(entry).href)});` +
    "process.stderr.write('IMPORT_MS=' + (performance.now() - t0) + '\\n'); process.exit(0);";
  const started = performance.now();
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.on("exit", done));
  const wall = performance.now() - started;
  const match = /IMPORT_MS=([\d.]+)/.exec(stderr);
  if (code !== 0 || !match) throw new Error(`loading ${entry} failed (${code}): ${stderr}`);
  return [wall, Number(match[1])];
}

/** The built function's process environment for these benchmarks: PATH, and the function's own. */
export function builtFunctionEnv(
  databaseUrl: string,
  identity: DevIdentity,
  certs: CertsServer,
  authMode: AuthMode = "verify",
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    ...writeEnvironment({
      NODE_ENV: "production",
      DATABASE_URL: databaseUrl,
      AUTH_AUDIENCE: [identity.audience],
      AUTH_ALLOWED_EMAILS: [identity.email],
      AUTH_CERTS_URL: certs.url,
      AUTH_MODE: authMode,
    }),
  };
}

/** Spawns functions-framework and polls until `probe` answers 200: ms from spawn to that answer. */
export async function bootToFirst200(
  source: string,
  env: NodeJS.ProcessEnv,
  probe: (base: string) => Promise<Response>,
): Promise<{ ms: number; child: ChildProcess; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [frameworkCli, `--source=${source}`, "--target=scheduledTasks", `--port=${port}`],
    { env, stdio: ["ignore", "ignore", "inherit"] },
  );
  for (;;) {
    try {
      const response = await probe(base);
      await response.arrayBuffer();
      if (response.status === 200) return { ms: performance.now() - started, child, base };
      throw new Error(`first answer was ${response.status}`);
    } catch (error) {
      if (!(error instanceof TypeError)) {
        child.kill();
        throw error;
      }
      if (performance.now() - started > 20_000) {
        child.kill();
        throw new Error("functions-framework did not answer within 20 s", { cause: error });
      }
      await new Promise((next) => setTimeout(next, 2));
    }
  }
}

/**
 * The router's own cost, in-process: the same framework test server and HTTP client, once with a
 * hello-world and once with the router (real token check, body checks, answer, log line) in front
 * of a runner that returns at once. The difference is what the router adds to a request.
 */
async function measureRouterCost(requests: number): Promise<{ helloWorld: Summary; router: Summary }> {
  const identity = createDevIdentity({ audience: "http://localhost:8080" });
  const certs = await serveCerts(identity);
  const authenticator = createAuthenticator({
    mode: "verify",
    audiences: [identity.audience],
    allowedEmails: new Set([identity.email]),
    certsUrl: certs.url,
  });
  functions.http(
    "benchRouter",
    createHandler({
      authenticator,
      jobs: resolveJobs(tasks).jobs,
      pool: async () => ({}) as never,
      runTask: async (_deps, request) => ({
        status: "succeeded",
        runId: "1",
        task: request.task.name,
        dryRun: false,
        rowsAffected: 0,
        durationMs: 0,
      }),
      log: createLogger({}, () => undefined),
    }),
  );
  functions.http("benchHello", (_req, res) => {
    res.status(200).send("ok");
  });
  const token = identity.signIdToken();
  const measure = async (name: string): Promise<number[]> => {
    const server = getTestServer(name);
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
    const { port } = server.address() as { port: number };
    const samples: number[] = [];
    for (let i = 0; i < requests + 100; i += 1) {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${port}/`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ task: BENCH_TASK }),
      });
      await response.arrayBuffer();
      if (i >= 100) samples.push(performance.now() - started);
    }
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
    return samples;
  };
  // Alternating halves, so both see the same machine load.
  const hello = await measure("benchHello");
  const router = await measure("benchRouter");
  hello.push(...(await measure("benchHello")));
  router.push(...(await measure("benchRouter")));
  await certs.close();
  return { helloWorld: summarize(hello), router: summarize(router) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

async function main(): Promise<void> {
  const runs = argument("--runs", 15);
  // cloud-run: the deployed mode, tokens arrive with their signature stripped and no certificate is
  // fetched; verify: local runs, the first request also fetches the certificates.
  const authMode = process.argv.includes("--verify") ? "verify" : "cloud-run";
  const requests = argument("--requests", 300);

  let server: EmbeddedServer | undefined;
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const dataDir = mkdtempSync(join(tmpdir(), "scheduled-jobs-bench-pg-"));
    server = await startEmbeddedPostgres({ dataDir, persistent: false });
    const admin = new pg.Client({ connectionString: server.url("postgres") });
    await admin.connect();
    await admin.query("CREATE DATABASE bench");
    await admin.end();
    databaseUrl = server.url("bench");
    await applyAppSchema(databaseUrl);
    await migrate(databaseUrl);
  }

  const built = await build();
  const hello = writeHelloWorld();
  const identity = createDevIdentity({ audience: "http://localhost:8080" });
  const certs = await serveCerts(identity);
  const mintToken = (): string =>
    authMode === "cloud-run" ? stripSignature(identity.signIdToken()) : identity.signIdToken();
  const env = builtFunctionEnv(databaseUrl, identity, certs, authMode);

  try {
    // 1. Module load, interleaved.
    const load = {
      hello: { wall: [] as number[], import: [] as number[] },
      fn: { wall: [] as number[], import: [] as number[] },
    };
    await loadOnce(join(built.outDir, "index.js"), env); // disk cache warm for both
    await loadOnce(join(hello, "index.js"), env);
    for (let i = 0; i < runs; i += 1) {
      const [hw, hi] = await loadOnce(join(hello, "index.js"), env);
      const [fw, fi] = await loadOnce(join(built.outDir, "index.js"), env);
      load.hello.wall.push(hw);
      load.hello.import.push(hi);
      load.fn.wall.push(fw);
      load.fn.import.push(fi);
    }

    // 2. Boot to first 200, interleaved.
    const boot = { hello: [] as number[], fn: [] as number[] };
    const bootRuns = Math.max(3, Math.round(runs / 2));
    const taskCall = (base: string): Promise<Response> =>
      fetch(`${base}/`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${mintToken()}` },
        body: JSON.stringify({ task: BENCH_TASK }),
      });
    for (let i = 0; i < bootRuns; i += 1) {
      const h = await bootToFirst200(hello, env, (base) => fetch(`${base}/`));
      boot.hello.push(h.ms);
      await stop(h.child);
      const f = await bootToFirst200(built.outDir, env, taskCall);
      boot.fn.push(f.ms);
      await stop(f.child);
    }

    // 3. Warm per-request cost: HTTP to the bundle, the runner directly, the SQL alone.
    const warm = await bootToFirst200(built.outDir, env, taskCall);
    const token = mintToken();
    const http: number[] = [];
    for (let i = 0; i < requests + 50; i += 1) {
      const started = performance.now();
      const response = await fetch(`${warm.base}/`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ task: BENCH_TASK }),
      });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`warm request answered ${response.status}`);
      if (i >= 50) http.push(performance.now() - started);
    }
    await stop(warm.child);

    // The same client and framework with nothing behind them: what any function pays per request.
    const helloWarm = await bootToFirst200(hello, env, (base) => fetch(`${base}/`));
    const helloHttp: number[] = [];
    for (let i = 0; i < requests + 50; i += 1) {
      const started = performance.now();
      const response = await fetch(`${helloWarm.base}/`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ task: BENCH_TASK }),
      });
      await response.arrayBuffer();
      if (i >= 50) helloHttp.push(performance.now() - started);
    }
    await stop(helloWarm.child);

    const pool = createPool({ connectionString: databaseUrl, max: 2 });
    const task = findTask(BENCH_TASK);
    if (!task) throw new Error(`${BENCH_TASK} is not in the catalog`);
    const runner: number[] = [];
    for (let i = 0; i < requests + 50; i += 1) {
      const started = performance.now();
      await runTask({ pool }, { task, trigger: "cli" });
      if (i >= 50) runner.push(performance.now() - started);
    }
    const statement = sqlOf(task).statement ?? "";
    const sqlAlone: number[] = [];
    const client = await pool.connect();
    try {
      for (let i = 0; i < requests + 50; i += 1) {
        const started = performance.now();
        await client.query(`BEGIN;\n${statement}`);
        await client.query("COMMIT");
        if (i >= 50) sqlAlone.push(performance.now() - started);
      }
    } finally {
      client.release();
      await pool.end();
    }

    const routerCost = await measureRouterCost(requests);

    const results = {
      machine: {
        node: process.version,
        cpus: (await import("node:os")).cpus().length,
        loadAverage: (await import("node:os")).loadavg(),
      },
      authMode,
      moduleLoad: {
        helloWorld: { processMs: summarize(load.hello.wall), importMs: summarize(load.hello.import) },
        function: { processMs: summarize(load.fn.wall), importMs: summarize(load.fn.import) },
      },
      bootToFirst200: { helloWorld: summarize(boot.hello), function: summarize(boot.fn) },
      warm: {
        helloWorldHttpRequest: summarize(helloHttp),
        httpRequest: summarize(http),
        runnerDirect: summarize(runner),
        taskSqlAlone: summarize(sqlAlone),
      },
      routerInProcess: routerCost,
      bundle: built.files,
    };
    const ratio = (a: number, b: number): string => (a / b).toFixed(2);
    const { moduleLoad: m, bootToFirst200: b, warm: w } = results;
    console.log(`AUTH_MODE=${authMode}`);
    console.log("                         hello-world   function   ratio");
    console.log(
      `module load, process    ${m.helloWorld.processMs.p50.toFixed(1).padStart(9)} ms ${m.function.processMs.p50.toFixed(1).padStart(7)} ms  ${ratio(m.function.processMs.p50, m.helloWorld.processMs.p50)}x`,
    );
    console.log(
      `module load, import     ${m.helloWorld.importMs.p50.toFixed(1).padStart(9)} ms ${m.function.importMs.p50.toFixed(1).padStart(7)} ms  ${ratio(m.function.importMs.p50, m.helloWorld.importMs.p50)}x`,
    );
    console.log(
      `boot to first 200       ${b.helloWorld.p50.toFixed(1).padStart(9)} ms ${b.function.p50.toFixed(1).padStart(7)} ms  ${ratio(b.function.p50, b.helloWorld.p50)}x`,
    );
    console.log(
      `warm ${BENCH_TASK}: HTTP p50 ${w.httpRequest.p50} ms (p95 ${w.httpRequest.p95}), runner p50 ${w.runnerDirect.p50} ms, SQL alone p50 ${w.taskSqlAlone.p50} ms`,
    );
    console.log(
      `warm hello-world over HTTP p50 ${w.helloWorldHttpRequest.p50} ms; the function's own cost beyond it and the runner: ${(w.httpRequest.p50 - w.helloWorldHttpRequest.p50 - w.runnerDirect.p50).toFixed(2)} ms`,
    );
    console.log(
      `overhead p50: HTTP over SQL alone ${(w.httpRequest.p50 - w.taskSqlAlone.p50).toFixed(2)} ms, HTTP over runner ${(w.httpRequest.p50 - w.runnerDirect.p50).toFixed(2)} ms`,
    );
    console.log(
      `router in-process: hello-world p50 ${routerCost.helloWorld.p50} ms, router with a no-op runner p50 ${routerCost.router.p50} ms: the router adds ${(routerCost.router.p50 - routerCost.helloWorld.p50).toFixed(2)} ms`,
    );
    mkdirSync(join(root, "bench", "results"), { recursive: true });
    writeFileSync(join(root, "bench", "results", "cold-start.json"), `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await certs.close();
    rmSync(hello, { recursive: true, force: true });
    await server?.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
