/**
 * `npm run bench`: each figure beside its reference, in one run, on this machine. Prints a Markdown
 * table on stdout and writes the figures as JSON (bench/results/, git-ignored). Benchmarks report;
 * they do not fail: the exit code is 0 whatever the figures say, non-zero only if the bench broke.
 * Flags: see bench/lib/options.ts (`--smoke` for tiny sizes).
 */
import { cpus, totalmem } from "node:os";
import { bulkArchive } from "./bulk-archive.js";
import { connector } from "./connector.js";
import { dailyTasks } from "./daily-tasks.js";
import { everyMinute } from "./every-minute.js";
import type { BenchContext } from "./lib/context.js";
import { count } from "./lib/context.js";
import type { FigureGroup } from "./lib/options.js";
import { parseOptions } from "./lib/options.js";
import { createDataset, dropDatabase, startServer } from "./lib/postgres.js";
import type { Figure } from "./lib/report.js";
import { markdownTable, writeJson } from "./lib/report.js";
import { functionFigures } from "./function.js";
import { httpLoadFigures } from "./http-load.js";
import { lambdaFigures } from "./lambda.js";
import { perCall } from "./per-call.js";
import { planFigures } from "./plan.js";
import { vendorReports } from "./vendor-reports.js";

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = new Date();
  const figures: Figure[] = [];
  const wants = (group: FigureGroup): boolean => options.only.has(group);

  const server = await startServer(log);
  const context: BenchContext = { server, options, log };
  let serverVersion: string;
  try {
    serverVersion = await server.admin(
      async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
    );

    if (wants("minute") || wants("daily") || wants("per-call") || wants("plan")) {
      const sizes = wants("minute") ? options.orders : options.orders.slice(-1);
      const datasets: { orders: number; url: string; name: string }[] = [];
      try {
        for (const orders of sizes) {
          const name = `bench_steady_${orders}`;
          log(`steady state: generating ${count(orders)} orders`);
          const { url } = await createDataset(server, name, { orders, archived: true }, log);
          datasets.push({ orders, url, name });
        }
        const largest = datasets[datasets.length - 1]!;
        if (wants("minute")) {
          log("every-minute tasks");
          figures.push(...(await everyMinute(context, datasets)));
        }
        if (wants("daily")) {
          log(`daily tasks at ${count(largest.orders)}`);
          figures.push(...(await dailyTasks(context, largest)));
        }
        // Before per-call: plan changes nothing (its dry runs roll back).
        if (wants("plan")) {
          log(`plan, without a database and with ${count(largest.orders)} orders`);
          figures.push(...(await planFigures(context, largest)));
        }
        // Last: its first run commits (cancels what is due).
        if (wants("per-call")) {
          log("per call");
          figures.push(...(await perCall(context, largest)));
        }
      } finally {
        for (const dataset of datasets) await dropDatabase(server, dataset.name);
      }
    }

    if (wants("cold-start") || wants("http")) {
      log("the built function");
      const measured = await functionFigures(context);
      figures.push(
        ...measured.filter((f) => (f.section.startsWith("Cold") ? wants("cold-start") : wants("http"))),
      );
    }

    if (wants("cold-start")) {
      log("what an http task loads");
      figures.push(...(await httpLoadFigures(context)));
      log("the Lambda bundle");
      figures.push(...(await lambdaFigures(context)));
    }

    if (wants("email")) {
      log("vendor reports");
      figures.push(...(await vendorReports(context)));
    }

    if (wants("archive")) {
      for (const backlog of options.backlog) {
        log(`bulk archive of ${count(backlog)} rows`);
        figures.push(...(await bulkArchive(context, backlog)));
      }
    }
  } finally {
    await server.stop();
  }

  if (wants("connector")) {
    log("Cloud SQL connector");
    figures.push(...(await connector(context)));
  }

  const table = markdownTable(figures);
  const environment = {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    postgres: serverVersion,
    embedded: server.embedded,
    settings: server.settings,
  };
  process.stdout.write(
    `## Benchmarks (${started.toISOString()}${options.smoke ? ", smoke sizes" : ""})\n\n` +
      `Node ${environment.node}, ${environment.cpus} CPUs, PostgreSQL ${environment.postgres}` +
      `${server.embedded ? " (embedded)" : " (DATABASE_URL)"}; orders ${options.orders.map(count).join(", ")}; backlog ${options.backlog.map(count).join(", ")}\n\n` +
      `${table}\n`,
  );
  writeJson(options.out, {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { ...options, only: [...options.only] },
    environment,
    figures,
  });
  log(`figures written to ${options.out}`);
}

main().catch((error: unknown) => {
  log(`the benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
