/**
 * A throwaway PostgreSQL cluster with pg_cron preloaded, from the system's PostgreSQL binaries
 * (the embedded server of the other tests has no pg_cron). Unix socket only, trust auth, in a
 * temporary directory; as root it runs as the `postgres` user, since PostgreSQL refuses root.
 */
import { execFileSync, spawnSync } from "node:child_process";
import type { SpawnSyncOptions } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, appendFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const pgBinDir = process.env.PG_CRON_BIN_DIR ?? "/usr/lib/postgresql/15/bin";

const installHint =
  "Install PostgreSQL 15 and pg_cron (Debian/Ubuntu: `apt-get install -y postgresql-15 postgresql-15-cron`), " +
  "or point PG_CRON_BIN_DIR at the bin directory of a PostgreSQL that has pg_cron.";

export interface PgCronCluster {
  /** The directory of the server's socket (also cron.host). */
  readonly socketDir: string;
  readonly port: number;
  /** cron.database_name: the database pg_cron runs its jobs in. */
  readonly database: string;
  /** A connection string for a database of this cluster, as the superuser unless a user is named. */
  url(database?: string, user?: string): string;
  /** The server's log, for a failing test's message. */
  readonly logFile: string;
  stop(): void;
}

/** What is missing for the pg_cron tests on this machine, or undefined when nothing is. */
export function missingPrerequisite(): string | undefined {
  for (const tool of ["initdb", "pg_ctl", "pg_config"]) {
    if (!existsSync(join(pgBinDir, tool))) {
      return `the pg_cron tests need PostgreSQL's ${tool}, not found in ${pgBinDir}. ${installHint}`;
    }
  }
  const libDir = execFileSync(join(pgBinDir, "pg_config"), ["--pkglibdir"], { encoding: "utf8" }).trim();
  const shareDir = execFileSync(join(pgBinDir, "pg_config"), ["--sharedir"], { encoding: "utf8" }).trim();
  const library = join(libDir, "pg_cron.so");
  const control = join(shareDir, "extension", "pg_cron.control");
  for (const file of [library, control]) {
    if (!existsSync(file))
      return `the pg_cron extension is not installed: ${file} is missing. ${installHint}`;
  }
  return undefined;
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const out = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (out.status !== 0 || gid.status !== 0) {
    throw new Error(
      "running as root, and there is no `postgres` user to run PostgreSQL as (PostgreSQL refuses root)",
    );
  }
  return { uid: Number(out.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function run(tool: string, args: string[], options: SpawnSyncOptions): void {
  const result = spawnSync(join(pgBinDir, tool), args, { ...options, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(
      `${tool} ${args.join(" ")} failed (${result.status}): ${String(result.stderr)}${String(result.stdout)}`,
    );
  }
}

export function startPgCronCluster(database = "delivery_app"): PgCronCluster {
  const missing = missingPrerequisite();
  if (missing) throw new Error(missing);

  const dir = mkdtempSync(join(tmpdir(), "pg-cron-test-"));
  const user = serverUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const options: SpawnSyncOptions = { cwd: dir, ...(user ?? {}), env: { ...process.env, LC_ALL: "C" } };
  const dataDir = join(dir, "data");
  const logFile = join(dir, "server.log");
  const port = 5432;

  run("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"], options);
  // cron.database_name must be in a config file: ALTER SYSTEM rejects it before the library loads.
  // cron.host: the default 'localhost' fails on Debian's pg_hba, and this cluster listens on a socket only.
  appendFileSync(
    join(dataDir, "postgresql.conf"),
    [
      "",
      "shared_preload_libraries = 'pg_cron'",
      `cron.database_name = '${database}'`,
      `cron.host = '${dir}'`,
      "listen_addresses = ''",
      `unix_socket_directories = '${dir}'`,
      `port = ${port}`,
      "fsync = off",
      "",
    ].join("\n"),
  );
  run("pg_ctl", ["-D", dataDir, "-l", logFile, "-w", "-t", "30", "start"], options);

  let stopped = false;
  const cluster: PgCronCluster = {
    socketDir: dir,
    port,
    database,
    logFile,
    url: (db = database, user = "postgres") =>
      `postgresql://${user}@/${db}?host=${encodeURIComponent(dir)}&port=${port}`,
    stop() {
      if (stopped) return;
      stopped = true;
      spawnSync(join(pgBinDir, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "stop"], options);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
