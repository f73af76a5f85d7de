/**
 * The server the benchmark runs on: the one DATABASE_URL names (it needs CREATEDB), or an embedded
 * PostgreSQL started here and removed at the end. Each data set is a database of its own; the bulk
 * archive clones a generated database (CREATE DATABASE ... TEMPLATE, a file copy) so that the batched
 * run and its reference start from the same rows.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../../scripts/local/embedded-postgres.js";
import { applyAppSchema, migrate } from "../../scripts/lib/migrate.js";
import type { DataSpec } from "./data.js";
import { generationStatements } from "./data.js";

/**
 * Settings of the embedded server, for bulk loads on a small shared machine: a buffer cache that
 * holds the 5M-order working set, no checkpoint in the middle of a load or a timed run, memory for
 * index builds. (fsync=off comes with the embedded server; synchronous_commit stays on, so a commit
 * still waits for its WAL write as it would in production.)
 */
const embeddedSettings: Readonly<Record<string, string>> = {
  shared_buffers: "1GB",
  work_mem: "32MB",
  maintenance_work_mem: "512MB",
  max_wal_size: "8GB",
  checkpoint_timeout: "30min",
  wal_buffers: "64MB",
  effective_cache_size: "4GB",
  // Log lines that say when, which backend, database, application and error code: what a database
  // that logs its statements tells of how long each ran (the bulk archive's transactions, on the
  // server's clock). Nothing is logged beyond the defaults unless a database asks for it.
  log_line_prefix: "%m|%p|%d|%a|%e|",
};

/** One line of the embedded server's log (its first line, for a multi-line statement). */
export interface ServerLogLine {
  readonly at: number;
  readonly pid: number;
  readonly database: string;
  readonly application: string;
  readonly code: string;
  /** "LOG:  statement: ...", "LOG:  duration: 12.3 ms", "ERROR:  canceling statement ...". */
  readonly message: string;
}

const logLinePattern =
  /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC\|(\d+)\|([^|]*)\|([^|]*)\|([0-9A-Z]{5})\|(.*)$/;

export interface BenchServer {
  readonly embedded: boolean;
  /** Settings given to the embedded server (empty for DATABASE_URL). */
  readonly settings: Readonly<Record<string, string>>;
  /** The embedded server's log lines of an application (none for DATABASE_URL). */
  readonly logOf?: (application: string) => readonly ServerLogLine[];
  url(database: string): string;
  admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

export async function startServer(log: (line: string) => void): Promise<BenchServer> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const base = new URL(external);
    const url = (database: string): string => {
      const parsed = new URL(base);
      parsed.pathname = `/${database}`;
      return parsed.toString();
    };
    return withAdmin({ embedded: false, settings: {}, url, stop: async () => undefined }, external);
  }
  const dataDir = mkdtempSync(join(tmpdir(), "scheduled-jobs-bench-pg-"));
  log(`starting an embedded PostgreSQL in ${dataDir}`);
  const lines: ServerLogLine[] = [];
  const server = await startEmbeddedPostgres({
    dataDir,
    persistent: false,
    postgresFlags: Object.entries(embeddedSettings).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
    log: (message) => {
      for (const line of String(message).split("\n")) {
        const match = logLinePattern.exec(line);
        if (!match) continue;
        const [, at, pid, database, application, code, text] = match;
        lines.push({
          at: Date.parse(`${at!.replace(" ", "T")}Z`),
          pid: Number(pid),
          database: database!,
          application: application!,
          code: code!,
          message: text!,
        });
      }
    },
  });
  return withAdmin(
    {
      embedded: true,
      settings: embeddedSettings,
      logOf: (application) => lines.filter((line) => line.application === application),
      url: (database) => server.url(database),
      stop: async () => {
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    },
    server.url("postgres"),
  );
}

function withAdmin(server: Omit<BenchServer, "admin">, adminUrl: string): BenchServer {
  return {
    ...server,
    async admin(work) {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        return await work(client);
      } finally {
        await client.end();
      }
    },
  };
}

const identifier = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`);
  return name;
};

export async function dropDatabase(server: BenchServer, name: string): Promise<void> {
  await server.admin((c) => c.query(`DROP DATABASE IF EXISTS ${identifier(name)} WITH (FORCE)`));
}

/** An empty app database, migrated, for the figures that run the function rather than the data's SQL. */
export async function createMigratedDatabase(server: BenchServer, name: string): Promise<string> {
  await dropDatabase(server, name);
  await server.admin((c) => c.query(`CREATE DATABASE ${identifier(name)}`));
  const url = server.url(name);
  await applyAppSchema(url);
  await migrate(url);
  return url;
}

/**
 * A database with the app schema, the generated data, then the migrations (the task indexes are
 * built on the loaded tables, as `npm run migrate` would on production's), vacuumed and analysed.
 */
export async function createDataset(
  server: BenchServer,
  name: string,
  spec: DataSpec,
  log: (line: string) => void,
): Promise<{ url: string; generationMs: number }> {
  const started = Date.now();
  await dropDatabase(server, name);
  await server.admin((c) => c.query(`CREATE DATABASE ${identifier(name)}`));
  const url = server.url(name);
  await applyAppSchema(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // The generated keys are valid by construction: skip the per-row foreign key triggers (the
    // load is 2-3x faster). Needs a superuser; on a server where we are not one, the load is slower.
    await client.query("SET session_replication_role = replica").catch(() => undefined);
    for (const step of generationStatements(spec)) {
      const stepStart = Date.now();
      await client.query(step.sql);
      log(`  ${name}: ${step.label} in ${((Date.now() - stepStart) / 1000).toFixed(1)} s`);
    }
    await client.query("RESET session_replication_role").catch(() => undefined);
    const migrateStart = Date.now();
    await migrate(url);
    log(`  ${name}: migrations (task indexes) in ${((Date.now() - migrateStart) / 1000).toFixed(1)} s`);
    // Frozen and analysed, so that clones start equal and plans rest on statistics.
    await client.query("VACUUM (FREEZE, ANALYZE)");
  } finally {
    await client.end();
  }
  return { url, generationMs: Date.now() - started };
}

export async function cloneDatabase(server: BenchServer, template: string, name: string): Promise<string> {
  await dropDatabase(server, name);
  await server.admin((c) => c.query(`CREATE DATABASE ${identifier(name)} TEMPLATE ${identifier(template)}`));
  return server.url(name);
}
