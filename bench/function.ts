/**
 * The built function (`npm run build`, dist/function/) on functions-framework, beside a bare
 * functions-framework hello-world and beside the same hello-world with every SDK the function can
 * use loaded eagerly: module load (a fresh process, spawn to exit), boot to the first 200 (for the
 * function, a real task run: token verified, pool connected, SQL run and recorded), whether the SQL
 * path loaded SendGrid or Secret Manager code, and the warm overhead of an HTTP request over the
 * task's SQL alone. Process and HTTP helpers come from bench/cold-start.ts.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findTask } from "../functions/catalog.js";
import { createPool } from "../functions/db.js";
import { sqlOf } from "../functions/task-sql.js";
import { build } from "../scripts/build.js";
import { createDevIdentity, serveCerts } from "../scripts/lib/dev-identity.js";
import { applyAppSchema, migrate } from "../scripts/lib/migrate.js";
import { bootToFirst200, builtFunctionEnv, loadOnce, writeHelloWorld } from "./cold-start.js";
import { projectRoot } from "./lib/child.js";
import type { BenchContext } from "./lib/context.js";
import { median, now, percentile, sleep } from "./lib/measure.js";
import { dropDatabase } from "./lib/postgres.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";

const TASK = "auto-cancel-unconfirmed-orders";
const COLD = "Cold start (functions-framework, fresh process)";
const WARM = "Warm request overhead (HTTP to the built function)";

/** The hello-world with pg, SendGrid, Secret Manager and the Cloud SQL connector imported up front. */
function writeEagerWorld(): string {
  const dir = join(projectRoot, "dist", "bench-eager-world");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", main: "index.js" }));
  writeFileSync(
    join(dir, "index.js"),
    [
      "import * as functions from '@google-cloud/functions-framework';",
      "import pg from 'pg';",
      "import sendgrid from '@sendgrid/mail';",
      "import { SecretManagerServiceClient } from '@google-cloud/secret-manager';",
      "import { Connector } from '@google-cloud/cloud-sql-connector';",
      "const clients = [new pg.Pool(), sendgrid, new SecretManagerServiceClient(), Connector];",
      "functions.http('scheduledTasks', (req, res) => { res.status(200).send(String(clients.length)); });",
      "",
    ].join("\n"),
  );
  return dir;
}

/**
 * A preload that writes the CommonJS modules the process has loaded (ESM imports of CommonJS
 * packages land in the same cache) to a file on SIGUSR2.
 */
function writeModuleProbe(): { preload: string; output: string } {
  const dir = join(projectRoot, "dist", "bench-probe");
  mkdirSync(dir, { recursive: true });
  const preload = join(dir, "loaded-modules.cjs");
  const output = join(dir, "loaded-modules.json");
  writeFileSync(
    preload,
    `const fs = require("node:fs");
process.on("SIGUSR2", () => fs.writeFileSync(${JSON.stringify(output)}, JSON.stringify(Object.keys(require.cache))));
`,
  );
  return { preload, output };
}

async function loadedModules(
  source: string,
  env: NodeJS.ProcessEnv,
  probe: (base: string) => Promise<Response>,
): Promise<string[]> {
  const { preload, output } = writeModuleProbe();
  rmSync(output, { force: true });
  const booted = await bootToFirst200(source, { ...env, NODE_OPTIONS: `--require ${preload}` }, probe);
  booted.child.kill("SIGUSR2");
  for (let i = 0; i < 500 && !existsSync(output); i++) await sleep(10);
  const modules = JSON.parse(readFileSync(output, "utf8")) as string[];
  await stop(booted.child);
  return modules;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
}

const sdkPattern = /node_modules\/(@sendgrid|@google-cloud\/secret-manager|google-gax|@grpc)\//;

export async function functionFigures(context: BenchContext): Promise<Figure[]> {
  const { server, options, log } = context;
  const runs = options.smoke ? 3 : 9;
  const bootRuns = options.smoke ? 2 : 5;
  const requests = options.smoke ? 50 : 300;
  const name = "bench_function";
  await dropDatabase(server, name);
  await server.admin((c) => c.query(`CREATE DATABASE ${name}`));
  const databaseUrl = server.url(name);
  await applyAppSchema(databaseUrl);
  await migrate(databaseUrl);

  log("  building the function (npm run build)");
  const built = await build();
  const hello = writeHelloWorld();
  const eager = writeEagerWorld();
  const identity = createDevIdentity({ audience: "http://localhost:8080" });
  const certs = await serveCerts(identity);
  const env = builtFunctionEnv(databaseUrl, identity, certs);
  const taskCall =
    (token = identity.signIdToken()) =>
    (base: string) =>
      fetch(`${base}/`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ task: TASK }),
      });
  const plainCall = (base: string) => fetch(`${base}/`);
  const figures: Figure[] = [];
  try {
    // Module load, interleaved so that all three see the same machine.
    const entries = {
      hello: join(hello, "index.js"),
      fn: join(built.outDir, "index.js"),
      eager: join(eager, "index.js"),
    };
    const load = { hello: [] as number[], fn: [] as number[], eager: [] as number[] };
    for (const entry of Object.values(entries)) await loadOnce(entry, env);
    for (let i = 0; i < runs; i++) {
      for (const key of ["hello", "fn", "eager"] as const)
        load[key].push((await loadOnce(entries[key], env))[0]);
    }
    // Boot to the first 200, interleaved.
    const boot = { hello: [] as number[], fn: [] as number[], eager: [] as number[] };
    for (let i = 0; i < bootRuns; i++) {
      for (const [key, source, probe] of [
        ["hello", hello, plainCall],
        ["fn", built.outDir, taskCall()],
        ["eager", eager, plainCall],
      ] as const) {
        const booted = await bootToFirst200(source, env, probe);
        boot[key].push(booted.ms);
        await stop(booted.child);
      }
    }
    const p50 = (v: number[]) => median(v);
    log(
      `  load p50: hello ${p50(load.hello).toFixed(0)} ms, function ${p50(load.fn).toFixed(0)} ms, eager ${p50(load.eager).toFixed(0)} ms`,
    );
    log(
      `  boot p50: hello ${p50(boot.hello).toFixed(0)} ms, function ${p50(boot.fn).toFixed(0)} ms, eager ${p50(boot.eager).toFixed(0)} ms`,
    );
    const bytes = built.files.reduce((sum, file) => sum + file.bytes, 0);
    figures.push(
      figure({
        section: COLD,
        name: `module load of the built bundle (process, p50 of ${runs})`,
        value: p50(load.fn),
        unit: "ms",
        reference: "bare functions-framework hello-world",
        referenceValue: p50(load.hello),
        goal: "≤ 1.5x",
        verdict: p50(load.fn) <= 1.5 * p50(load.hello) ? "pass" : "short",
        note: `dist/function: ${built.files.length} files, ${(bytes / 1024).toFixed(0)} KiB; both processes have Express loaded first, as the framework does`,
      }),
      figure({
        section: COLD,
        name: "module load with every SDK loaded eagerly",
        value: p50(load.eager),
        unit: "ms",
        reference: "bare functions-framework hello-world",
        referenceValue: p50(load.hello),
        goal: "(what lazy loading saves)",
        verdict: "info",
        note: "pg, @sendgrid/mail, @google-cloud/secret-manager and the Cloud SQL connector imported, clients constructed",
      }),
      figure({
        section: COLD,
        name: `boot to the first 200 of ${TASK} (p50 of ${bootRuns})`,
        value: p50(boot.fn),
        unit: "ms",
        reference: "hello-world's boot to its first 200",
        referenceValue: p50(boot.hello),
        goal: "≤ 1.15x",
        verdict: p50(boot.fn) <= 1.15 * p50(boot.hello) ? "pass" : "short",
        note: "spawn of functions-framework to the first 200: token verified (certificates fetched), pool connected, run opened, SQL run, run recorded",
      }),
      figure({
        section: COLD,
        name: "boot to the first 200, every SDK loaded eagerly",
        value: p50(boot.eager),
        unit: "ms",
        reference: "hello-world's boot to its first 200",
        referenceValue: p50(boot.hello),
        goal: "(what lazy loading saves)",
        verdict: "info",
      }),
    );

    const sqlPath = (await loadedModules(built.outDir, env, taskCall())).filter((m) => sdkPattern.test(m));
    const eagerPath = (await loadedModules(eager, env, plainCall)).filter((m) => sdkPattern.test(m));
    figures.push(
      figure({
        section: COLD,
        name: `SendGrid / Secret Manager modules loaded after a ${TASK} request`,
        value: sqlPath.length,
        unit: "rows",
        display: `${sqlPath.length} modules`,
        reference: "the eager hello-world (the probe's own check)",
        referenceValue: eagerPath.length,
        referenceDisplay: `${eagerPath.length} modules`,
        ratio: null,
        goal: "0",
        verdict: sqlPath.length === 0 && eagerPath.length > 0 ? "pass" : "short",
        note: sqlPath.length
          ? `loaded: ${sqlPath.slice(0, 3).join(", ")}`
          : "none of @sendgrid, @google-cloud/secret-manager, google-gax, @grpc",
      }),
    );

    // Warm overhead: HTTP to the function beside the task's SQL alone on a warm pool, alternating.
    const warm = await bootToFirst200(built.outDir, env, taskCall());
    const pool = createPool({ connectionString: databaseUrl, max: 1 });
    const statement = sqlOf(findTask(TASK)!).statement!;
    const token = identity.signIdToken();
    const http: number[] = [];
    const sqlAlone: number[] = [];
    try {
      for (let i = 0; i < requests + 50; i++) {
        let start = now();
        const response = await taskCall(token)(warm.base);
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`a warm request answered ${response.status}`);
        if (i >= 50) http.push(now() - start);
        start = now();
        await pool.query(statement);
        if (i >= 50) sqlAlone.push(now() - start);
      }
    } finally {
      await pool.end();
      await stop(warm.child);
    }
    // The framework's own HTTP cost, with nothing behind it: what any function pays per request.
    const helloWarm = await bootToFirst200(hello, env, plainCall);
    const helloHttp: number[] = [];
    try {
      for (let i = 0; i < requests + 50; i++) {
        const start = now();
        const response = await taskCall(token)(helloWarm.base);
        await response.arrayBuffer();
        if (i >= 50) helloHttp.push(now() - start);
      }
    } finally {
      await stop(helloWarm.child);
    }
    const over50 = percentile(http, 50) - percentile(sqlAlone, 50);
    const over99 = percentile(http, 99) - percentile(sqlAlone, 99);
    log(
      `  warm: HTTP p50 ${percentile(http, 50).toFixed(2)} ms, SQL alone p50 ${percentile(sqlAlone, 50).toFixed(2)} ms`,
    );
    figures.push(
      figure({
        section: WARM,
        name: `POST {"task": "${TASK}"} (p50 of ${requests})`,
        value: percentile(http, 50),
        unit: "ms",
        reference: "its SQL alone on a warm pg pool (p50)",
        referenceValue: percentile(sqlAlone, 50),
        goal: "overhead < 2 ms",
        verdict: over50 < 2 ? "pass" : "short",
        note: `overhead ${over50.toFixed(2)} ms: HTTP, token check, router, runner (run record, lock, transaction), log line; the task changes nothing`,
      }),
      figure({
        section: WARM,
        name: `the same POST to the hello-world (p50)`,
        value: percentile(helloHttp, 50),
        unit: "ms",
        reference: "its SQL alone on a warm pg pool (p50)",
        referenceValue: percentile(sqlAlone, 50),
        goal: "(the framework's and the client's share)",
        verdict: "info",
        note: `p99 ${percentile(helloHttp, 99).toFixed(2)} ms; the function's own overhead beyond HTTP is ${(percentile(http, 50) - percentile(helloHttp, 50) - percentile(sqlAlone, 50)).toFixed(2)} ms at p50`,
      }),
      figure({
        section: WARM,
        name: `POST {"task": "${TASK}"} (p99)`,
        value: percentile(http, 99),
        unit: "ms",
        reference: "its SQL alone on a warm pg pool (p99)",
        referenceValue: percentile(sqlAlone, 99),
        goal: "overhead < 10 ms",
        verdict: over99 < 10 ? "pass" : "short",
        note: `overhead ${over99.toFixed(2)} ms`,
      }),
    );
  } finally {
    await certs.close();
    for (const dir of [hello, eager, join(projectRoot, "dist", "bench-probe")])
      rmSync(dir, { recursive: true, force: true });
    await dropDatabase(server, name);
  }
  return figures;
}
