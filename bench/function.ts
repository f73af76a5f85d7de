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
import { findTask } from "../functions/core/catalog.js";
import { createPool } from "../functions/core/db/pool.js";
import { sqlOf } from "../functions/core/run/task-sql.js";
import { build } from "../scripts/generate/bundle.js";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";
import {
  bootToFirst200,
  builtFunctionEnv,
  loadOnce,
  writeDatabaseHelloWorld,
  writeBenchFunction,
  writeHelloWorld,
} from "./cold-start.js";
import { projectRoot } from "./lib/child.js";
import type { BenchContext } from "./lib/context.js";
import { median, now, percentile, sleep } from "./lib/measure.js";
import { createMigratedDatabase, dropDatabase } from "./lib/postgres.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";

const TASK = "auto-cancel-unconfirmed-orders";
const COLD = "Cold start (functions-framework, fresh process)";
const WARM = "Warm request overhead (HTTP to the built function)";

/** The hello-world with pg, SendGrid, Secret Manager and the Cloud SQL connector imported up front. */
function writeEagerWorld(): string {
  return writeBenchFunction("bench-eager-world", [
    "import * as functions from '@google-cloud/functions-framework';",
    "import pg from 'pg';",
    "import sendgrid from '@sendgrid/mail';",
    "import { SecretManagerServiceClient } from '@google-cloud/secret-manager';",
    "import { Connector } from '@google-cloud/cloud-sql-connector';",
    "const clients = [new pg.Pool(), sendgrid, new SecretManagerServiceClient(), Connector];",
    "functions.http('scheduledTasks', (req, res) => { res.status(200).send(String(clients.length)); });",
  ]);
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
  const bootRuns = options.smoke ? 2 : 9;
  const requests = options.smoke ? 50 : 300;
  const name = "bench_function";
  const databaseUrl = await createMigratedDatabase(server, name);

  log("  building the function (npm run build)");
  const built = await build();
  const statement = sqlOf(findTask(TASK)!).statement!;
  const hello = writeHelloWorld();
  const pgHello = writeDatabaseHelloWorld(statement);
  const eager = writeEagerWorld();
  const identity = createDevIdentity({ audience: "http://localhost:8080" });
  const certs = await serveCerts(identity);
  // As deployed (AUTH_MODE=cloud-run): Cloud Run's IAM has checked the token's signature and removed
  // it, the function judges the claims. `verify` (local runs) is measured for the boot as well.
  const env = builtFunctionEnv(databaseUrl, identity, certs, "cloud-run");
  const verifyEnv = builtFunctionEnv(databaseUrl, identity, certs, "verify");
  const deployedToken = (): string => stripSignature(identity.signIdToken());
  const taskCall =
    (token = deployedToken()) =>
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
    // Boot to the first 200, interleaved. The database hello-world's first 200 has run the statement.
    const boot = {
      hello: [] as number[],
      pgHello: [] as number[],
      fn: [] as number[],
      fnVerify: [] as number[],
      eager: [] as number[],
    };
    for (let i = 0; i < bootRuns; i++) {
      for (const [key, source, probe, processEnv] of [
        ["hello", hello, plainCall, env],
        ["pgHello", pgHello, taskCall(), env],
        ["fn", built.outDir, taskCall(), env],
        ["fnVerify", built.outDir, taskCall(identity.signIdToken()), verifyEnv],
        ["eager", eager, plainCall, env],
      ] as const) {
        const booted = await bootToFirst200(source, processEnv, probe);
        boot[key].push(booted.ms);
        await stop(booted.child);
      }
    }
    const p50 = (v: number[]) => median(v);
    log(
      `  load p50: hello ${p50(load.hello).toFixed(0)} ms, function ${p50(load.fn).toFixed(0)} ms, eager ${p50(load.eager).toFixed(0)} ms`,
    );
    log(
      `  boot p50: hello ${p50(boot.hello).toFixed(0)} ms, pg hello ${p50(boot.pgHello).toFixed(0)} ms, function ${p50(boot.fn).toFixed(0)} ms (verify mode ${p50(boot.fnVerify).toFixed(0)} ms), eager ${p50(boot.eager).toFixed(0)} ms`,
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
        reference: "a hello-world that opens one pg connection and runs the same statement",
        referenceValue: p50(boot.pgHello),
        goal: "≤ 1.1x",
        verdict: p50(boot.fn) <= 1.1 * p50(boot.pgHello) ? "pass" : "short",
        note: "spawn of functions-framework to the first 200, as deployed (AUTH_MODE=cloud-run: the token's claims checked, its signature removed by Cloud Run's IAM): first connection opened (while the framework starts), run opened, SQL run, run recorded; the reference's first 200 has loaded pg, connected and run the statement",
      }),
      figure({
        section: COLD,
        name: "boot to the first 200 with AUTH_MODE=verify (local runs)",
        value: p50(boot.fnVerify),
        unit: "ms",
        reference: "a hello-world that opens one pg connection and runs the same statement",
        referenceValue: p50(boot.pgHello),
        goal: "(the first request also fetches the certificates and verifies the signature)",
        verdict: "info",
      }),
      figure({
        section: COLD,
        name: "boot to the first 200, the database hello-world",
        value: p50(boot.pgHello),
        unit: "ms",
        reference: "bare hello-world's boot to its first 200",
        referenceValue: p50(boot.hello),
        goal: "(what loading pg and one connection cost)",
        verdict: "info",
      }),
      figure({
        section: COLD,
        name: "boot to the first 200 of the function, beside the bare hello-world",
        value: p50(boot.fn),
        unit: "ms",
        reference: "bare hello-world's boot to its first 200",
        referenceValue: p50(boot.hello),
        goal: "(the former reference)",
        verdict: "info",
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

    // Warm: the function, the bare hello-world, the database hello-world and the SQL alone on a warm
    // pool, all up at once and called in turn, so that every one sees the same machine.
    const warm = await bootToFirst200(built.outDir, env, taskCall());
    const helloWarm = await bootToFirst200(hello, env, plainCall);
    const pgHelloWarm = await bootToFirst200(pgHello, env, taskCall());
    const pool = createPool({ connectionString: databaseUrl, max: 1 });
    const token = deployedToken();
    const samples = {
      http: [] as number[],
      hello: [] as number[],
      pgHello: [] as number[],
      sql: [] as number[],
      manual: [] as number[],
      tick: [] as number[],
    };
    const own: number[] = [];
    const post = async (base: string, headers: Record<string, string> = {}): Promise<number> => {
      const start = now();
      const response = await fetch(`${base}/`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
        body: JSON.stringify({ task: TASK }),
      });
      const body = await response.text();
      const took = now() - start;
      if (response.status !== 200) throw new Error(`a warm request to ${base} answered ${response.status}`);
      if (
        headers["x-cloudscheduler-scheduletime"] &&
        (JSON.parse(body) as { status?: string }).status !== "succeeded"
      )
        throw new Error(`a tick was answered ${body}, not run`);
      return took;
    };
    // Ticks as Cloud Scheduler delivers them: every minute of the task's schedule, going back from
    // the minute before this one (each its own slot, so each runs).
    const lastMinute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const tickHeaders = (i: number): Record<string, string> => ({
      "x-cloudscheduler-jobname": `bench-${TASK}`,
      "x-cloudscheduler-scheduletime": new Date(lastMinute - i * 60_000).toISOString(),
    });
    try {
      for (let i = 0; i < requests + 50; i++) {
        const http = await post(warm.base);
        const helloMs = await post(helloWarm.base);
        const start = now();
        await pool.query(statement);
        const sql = now() - start;
        const pgHelloMs = await post(pgHelloWarm.base);
        if (i < 50) continue;
        samples.http.push(http);
        samples.hello.push(helloMs);
        samples.sql.push(sql);
        samples.pgHello.push(pgHelloMs);
        own.push(http - helloMs - sql);
      }
      // Ticks apart, so that the rounds above see the function as they always have (a process
      // called twice a round runs warmer): each POST, manual or tick, after the database
      // hello-world's.
      for (let i = 0; i < requests / 2 + 25; i++) {
        const manualMs = await post(warm.base);
        await post(pgHelloWarm.base);
        const tickMs = await post(warm.base, tickHeaders(i));
        await post(pgHelloWarm.base);
        if (i < 25) continue;
        samples.manual.push(manualMs);
        samples.tick.push(tickMs);
      }
    } finally {
      await pool.end();
      await Promise.all([stop(warm.child), stop(helloWarm.child), stop(pgHelloWarm.child)]);
    }
    const p = (values: number[], q: number): number => percentile(values, q);
    const reference50 = p(samples.hello, 50) + p(samples.sql, 50);
    const reference99 = p(samples.hello, 99) + p(samples.sql, 99);
    const share50 = p(samples.http, 50) - reference50;
    const share99 = p(samples.http, 99) - reference99;
    log(
      `  warm p50: function ${p(samples.http, 50).toFixed(2)} ms, hello-world ${p(samples.hello, 50).toFixed(2)} ms, SQL alone ${p(samples.sql, 50).toFixed(2)} ms, database hello-world ${p(samples.pgHello, 50).toFixed(2)} ms: the function's own share ${share50.toFixed(2)} ms`,
    );
    figures.push(
      figure({
        section: WARM,
        name: `POST {"task": "${TASK}"} (p50 of ${requests})`,
        value: p(samples.http, 50),
        unit: "ms",
        reference: "the hello-world's own POST + the SQL alone on a warm pg pool (p50s)",
        referenceValue: reference50,
        goal: "the function's own share ≤ 1 ms",
        verdict: share50 <= 1 ? "pass" : "short",
        note: `the function's own share ${share50.toFixed(2)} ms (p50 of each round's difference: ${p(own, 50).toFixed(2)} ms): token claims (AUTH_MODE=cloud-run, as deployed), router, runner (one round trip: the run opened and committed, then the statement with its record, in one simple query), log lines; hello-world ${p(samples.hello, 50).toFixed(2)} ms + SQL alone ${p(samples.sql, 50).toFixed(2)} ms; the task changes nothing`,
        details: {
          function: p(samples.http, 50),
          helloWorld: p(samples.hello, 50),
          sqlAlone: p(samples.sql, 50),
          databaseHelloWorld: p(samples.pgHello, 50),
          ownShareP50: share50,
          pairedOwnShareP50: p(own, 50),
        },
      }),
      figure({
        section: WARM,
        name: `POST {"task": "${TASK}"} (p99)`,
        value: p(samples.http, 99),
        unit: "ms",
        reference: "the hello-world's own POST + the SQL alone (p99s)",
        referenceValue: reference99,
        goal: "the function's own share < 10 ms",
        verdict: share99 < 10 ? "pass" : "short",
        note: `the function's own share ${share99.toFixed(2)} ms`,
      }),
      figure({
        section: WARM,
        name: "the same POST to the database hello-world (p50)",
        value: p(samples.pgHello, 50),
        unit: "ms",
        reference: "the hello-world's own POST + the SQL alone (p50s)",
        referenceValue: reference50,
        goal: "(the reference measured in one piece)",
        verdict: "info",
        note: "one kept pg connection, the statement per request, nothing else",
      }),
      figure({
        section: WARM,
        name: `POST {"task": "${TASK}"} beside the database hello-world's (p50)`,
        value: p(samples.http, 50),
        unit: "ms",
        reference: "the same POST to the database hello-world (p50)",
        referenceValue: p(samples.pgHello, 50),
        goal: "(the ratio holds as the machine's speed drifts; the share above moves with it)",
        verdict: "info",
        note: "what the run's record, the token's claims, the checks and the log lines cost beside a function that only runs the statement",
      }),
      figure({
        section: WARM,
        name: `the same POST as a tick, with Cloud Scheduler's headers (p50)`,
        value: p(samples.tick, 50),
        unit: "ms",
        reference: `POST {"task": "${TASK}"} without them, in the same rounds (p50)`,
        referenceValue: p(samples.manual, 50),
        goal: "(what every delivery of the scheduler adds: its schedule time checked against the schedule, its slot for a success)",
        verdict: "info",
        note: `${samples.tick.length} rounds of a manual POST and a tick, each after the database hello-world's; one tick a minute of the schedule, each its own slot; p99 ${p(samples.tick, 99).toFixed(2)} ms`,
      }),
      figure({
        section: WARM,
        name: "the same POST to the bare hello-world (p50)",
        value: p(samples.hello, 50),
        unit: "ms",
        reference: "the SQL alone on a warm pg pool (p50)",
        referenceValue: p(samples.sql, 50),
        goal: "(the framework's and the client's share)",
        verdict: "info",
        note: `p99 ${p(samples.hello, 99).toFixed(2)} ms`,
      }),
    );
  } finally {
    await certs.close();
    for (const dir of [hello, pgHello, eager, join(projectRoot, "dist", "bench-probe")])
      rmSync(dir, { recursive: true, force: true });
    await dropDatabase(server, name);
  }
  return figures;
}
