/**
 * What an http task loads, on the built function (`npm run build`, dist/function/) served by
 * functions-framework in fresh processes: after a SQL task's first request, neither
 * google-auth-library (nor gaxios, gcp-metadata) nor the bundle's http chunks (the call, the
 * ID-token authorizer) are loaded; after an http task's first request, google-auth-library is. The
 * http task runs for real: its target a loopback stand-in (an `internal` target of HTTP_TARGETS),
 * its ID token from a stand-in metadata server (google-auth-library's GCE_METADATA_HOST), as the
 * function's service account gets one on Google Cloud. With the boot to the first 200 of each, and
 * the import of google-auth-library alone: what a SQL task never pays.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tasks } from "../functions/core/catalog.js";
import { writeEnvironment } from "../functions/core/config/environment.js";
import { build } from "../scripts/generate/bundle.js";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";
import type { LocalMetadata } from "../scripts/local/local-metadata.js";
import { serveMetadata } from "../scripts/local/local-metadata.js";
import { bootToFirst200, builtFunctionEnv, loadOnce, writeBenchFunction } from "./cold-start.js";
import { projectRoot } from "./lib/child.js";
import type { BenchContext } from "./lib/context.js";
import { median, sleep } from "./lib/measure.js";
import { createMigratedDatabase, dropDatabase } from "./lib/postgres.js";
import type { Figure } from "./lib/report.js";
import { figure } from "./lib/report.js";

const SQL_TASK = "auto-cancel-unconfirmed-orders";
const COLD = "Cold start (functions-framework, fresh process)";
/** google-auth-library and the packages it loads to reach the metadata server. */
const authPackages = /node_modules\/(google-auth-library|gaxios|gcp-metadata)\//;
/** The bundle's chunks of the call and of Google's authorizer (esbuild names them after their entry). */
const httpChunks = /\/chunks\/(http-run|id-token)-[A-Z0-9]+\.js$/;

/**
 * A preload that lists, on SIGUSR2, every module the process has loaded: the CommonJS ones (the
 * external packages) from require's cache, and the ES modules (the bundle's chunks) through a load
 * hook (module.register), which require's cache never sees.
 */
function writeModuleProbe(): { preload: string; output: string } {
  const dir = join(projectRoot, "dist", "bench-http-probe");
  mkdirSync(dir, { recursive: true });
  const output = join(dir, "loaded-modules.json");
  const hooks = join(dir, "hooks.mjs");
  writeFileSync(
    hooks,
    `let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) { port.postMessage(url); return next(url, context); }
`,
  );
  const preload = join(dir, "probe.mjs");
  writeFileSync(
    preload,
    `import { createRequire, register } from "node:module";
import { writeFileSync } from "node:fs";
import { MessageChannel } from "node:worker_threads";
const esm = new Set();
const { port1, port2 } = new MessageChannel();
port1.on("message", (url) => esm.add(url));
port1.unref();
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { port: port2 }, transferList: [port2] });
const cache = createRequire(import.meta.url).cache;
process.on("SIGUSR2", () => writeFileSync(${JSON.stringify(output)}, JSON.stringify([...Object.keys(cache), ...esm])));
`,
  );
  return { preload, output };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  await exited;
}

/** Every module a fresh function process has loaded once `probe` has its first 200. */
async function loadedAfter(
  source: string,
  env: NodeJS.ProcessEnv,
  probe: (base: string) => Promise<Response>,
): Promise<string[]> {
  const { preload, output } = writeModuleProbe();
  rmSync(output, { force: true });
  const booted = await bootToFirst200(
    source,
    { ...env, NODE_OPTIONS: `--import ${pathToFileURL(preload).href}` },
    probe,
  );
  booted.child.kill("SIGUSR2");
  for (let i = 0; i < 500 && !existsSync(output); i++) await sleep(10);
  const modules = JSON.parse(readFileSync(output, "utf8")) as string[];
  await stop(booted.child);
  return modules;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The target's stand-in (answers the count) and the metadata server's (npm start's: an ID token for any audience). */
async function standIns(): Promise<{ target: string; metadata: LocalMetadata; close: () => Promise<void> }> {
  const account = createDevIdentity();
  const target = createServer((req, res) => {
    req.resume();
    req.on("end", () =>
      res.writeHead(200, { "content-type": "application/json" }).end('{"rowsAffected": 0}'),
    );
  });
  const [targetHost, metadata] = await Promise.all([
    listen(target),
    serveMetadata(account, "sched-jobs-runtime@bench.iam.gserviceaccount.com"),
  ]);
  const close = async (): Promise<void> => {
    target.closeAllConnections();
    await new Promise((done) => target.close(done));
    await metadata.close();
  };
  return { target: targetHost, metadata, close };
}

export async function httpLoadFigures(context: BenchContext): Promise<Figure[]> {
  const { server, options, log } = context;
  const httpTask = tasks.find((task) => task.kind === "http");
  if (!httpTask?.http) throw new Error("the catalog has no http task to measure");
  const runs = options.smoke ? 3 : 9;
  const name = "bench_http_load";
  const databaseUrl = await createMigratedDatabase(server, name);
  log("  building the function (npm run build)");
  const built = await build();
  const identity = createDevIdentity({ audience: "http://localhost:8080" });
  const certs = await serveCerts(identity);
  const stands = await standIns();
  const authImport = writeBenchFunction("bench-auth-import", ["import 'google-auth-library';"]);
  const env = {
    ...builtFunctionEnv(databaseUrl, identity, certs, "cloud-run"),
    ...writeEnvironment({
      HTTP_TARGETS: {
        [httpTask.http.target]: {
          url: `http://${stands.target}`,
          audience: "https://app-backend.example",
          internal: true,
        },
      },
    }),
    ...stands.metadata.env,
    // google-auth-library finds the project before it mints a token: without this it would spawn
    // this machine's gcloud for it (about a second), where Cloud Run has no gcloud to spawn.
    ...writeEnvironment({ GOOGLE_CLOUD_PROJECT: "bench-project" }),
  };
  const call = (task: string) => (base: string) =>
    fetch(`${base}/`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${stripSignature(identity.signIdToken())}`,
      },
      body: JSON.stringify({ task }),
    });
  try {
    const afterSql = await loadedAfter(built.outDir, env, call(SQL_TASK));
    const afterHttp = await loadedAfter(built.outDir, env, call(httpTask.name));
    const boot = { sql: [] as number[], http: [] as number[] };
    const load = { fn: [] as number[], auth: [] as number[] };
    const entries = { fn: join(built.outDir, "index.js"), auth: join(authImport, "index.js") };
    for (const entry of Object.values(entries)) await loadOnce(entry, env);
    for (let i = 0; i < runs; i++) {
      for (const [key, task] of [
        ["sql", SQL_TASK],
        ["http", httpTask.name],
      ] as const) {
        const booted = await bootToFirst200(built.outDir, env, call(task));
        boot[key].push(booted.ms);
        await stop(booted.child);
      }
      load.fn.push((await loadOnce(entries.fn, env))[1]);
      load.auth.push((await loadOnce(entries.auth, env, { framework: false }))[1]);
    }
    return rows({ afterSql, afterHttp, boot, load, runs, httpName: httpTask.name, log });
  } finally {
    await stands.close();
    await certs.close();
    for (const dir of [authImport, join(projectRoot, "dist", "bench-http-probe")])
      rmSync(dir, { recursive: true, force: true });
    await dropDatabase(server, name);
  }
}

interface Measured {
  readonly afterSql: readonly string[];
  readonly afterHttp: readonly string[];
  readonly boot: { readonly sql: number[]; readonly http: number[] };
  readonly load: { readonly fn: number[]; readonly auth: number[] };
  readonly runs: number;
  readonly httpName: string;
  readonly log: (line: string) => void;
}

function rows({ afterSql, afterHttp, boot, load, runs, httpName, log }: Measured): Figure[] {
  const http = (modules: readonly string[]): string[] =>
    modules.filter((m) => authPackages.test(m) || httpChunks.test(m));
  const auth = (modules: readonly string[]): string[] =>
    modules.filter((m) => /node_modules\/google-auth-library\//.test(m));
  const [sqlHttp, httpHttp, httpAuth] = [http(afterSql), http(afterHttp), auth(afterHttp)];
  const chunksAfterHttp = httpHttp.filter((m) => httpChunks.test(m)).length;
  log(
    `  modules: after ${SQL_TASK} ${sqlHttp.length} of auth/http, after ${httpName} ${httpHttp.length} (google-auth-library ${httpAuth.length}, http chunks ${chunksAfterHttp}); boot p50 SQL ${median(boot.sql).toFixed(0)} ms, http ${median(boot.http).toFixed(0)} ms`,
  );
  return [
    figure({
      section: COLD,
      name: `google-auth-library and http call modules loaded after a ${SQL_TASK} request`,
      value: sqlHttp.length,
      unit: "rows",
      display: `${sqlHttp.length} modules`,
      reference: `after a ${httpName} request (the probe's own check)`,
      referenceValue: httpHttp.length,
      referenceDisplay: `${httpHttp.length} modules`,
      ratio: null,
      goal: "0",
      verdict: sqlHttp.length === 0 && httpAuth.length > 0 && chunksAfterHttp > 0 ? "pass" : "short",
      note: sqlHttp.length
        ? `loaded: ${sqlHttp.slice(0, 3).join(", ")}`
        : "none of google-auth-library, gaxios, gcp-metadata, nor the bundle's http-run and id-token chunks (CommonJS from require's cache, the bundle's ES modules through a load hook)",
    }),
    figure({
      section: COLD,
      name: `google-auth-library loaded after an http task's first request (${httpName})`,
      value: httpAuth.length,
      unit: "rows",
      display: `${httpAuth.length} modules`,
      reference: `after a ${SQL_TASK} request`,
      referenceValue: auth(afterSql).length,
      referenceDisplay: `${auth(afterSql).length} modules`,
      ratio: null,
      goal: "> 0: loaded by the first http run",
      verdict: httpAuth.length > 0 ? "pass" : "short",
      note: `the run answered 200: a loopback target and a stand-in metadata server (GCE_METADATA_HOST) minting the ID token, GOOGLE_CLOUD_PROJECT set (else google-auth-library spawns gcloud to find the project); ${chunksAfterHttp} of the bundle's http chunks loaded`,
    }),
    figure({
      section: COLD,
      name: `boot to the first 200 of ${httpName} (p50 of ${runs})`,
      value: median(boot.http),
      unit: "ms",
      reference: `boot to the first 200 of ${SQL_TASK}, interleaved`,
      referenceValue: median(boot.sql),
      goal: "(what the first http run adds: google-auth-library, a token, the call)",
      verdict: "info",
    }),
    figure({
      section: COLD,
      name: `import of google-auth-library alone (p50 of ${runs})`,
      value: median(load.auth),
      unit: "ms",
      reference: "the built bundle's import",
      referenceValue: median(load.fn),
      goal: "(what a SQL task's cold start does not pay)",
      verdict: "info",
      note: "a fresh process each, interleaved with the bundle's",
    }),
  ];
}
