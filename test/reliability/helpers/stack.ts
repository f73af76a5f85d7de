/**
 * Everything one reliability test file needs around the built function: a database of its own
 * (reached through a TCP proxy that can take it down), a development identity whose certificates a
 * loopback server publishes, the function process configured for both, and a client that sends
 * requests with a valid token of the allowed caller.
 */
import { tasks } from "../../../functions/core/catalog.js";
import { writeEnvironment } from "../../../functions/core/config/environment.js";
import { resolveJobs } from "../../../functions/core/schedule/jobs.js";
import { previousFireTime } from "../../../functions/core/schedule/fire-times.js";
import type { CertsServer, DevIdentity } from "../../../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../../../scripts/local/dev-identity.js";
import type { TestDatabase } from "../../helpers/database.js";
import { createTestDatabase } from "../../helpers/database.js";
import type { RawRequest, RawResponse } from "../../helpers/raw-http.js";
import { connectionCount } from "../../helpers/load.js";
import { jsonOf, sendRaw } from "../../helpers/raw-http.js";
import type { TcpProxy } from "../../helpers/tcp-proxy.js";
import { startTcpProxy } from "../../helpers/tcp-proxy.js";
import type { FunctionProcess } from "./function-process.js";
import { startFunction } from "./function-process.js";

export interface Stack {
  readonly db: TestDatabase;
  readonly proxy: TcpProxy;
  readonly identity: DevIdentity;
  /** A key pair under the identity's kid that the certificates server does not publish: a forger's. */
  readonly impostor: DevIdentity;
  readonly certs: CertsServer;
  readonly fn: FunctionProcess;
  /** A fresh valid token of the allowed caller. */
  token(): string;
  /** POSTs a JSON body to `/` with a valid token, plus these headers. */
  post(
    body: unknown,
    headers?: ReadonlyArray<readonly [string, string]>,
    options?: { timeoutMs?: number },
  ): Promise<RawResponse & { json: unknown }>;
  send(request: RawRequest): Promise<RawResponse>;
  /** The function's server connections, counted in pg_stat_activity. */
  functionConnections(): Promise<number>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** DB_POOL_MAX of the function. */
  readonly poolMax?: number;
  readonly env?: Record<string, string>;
  /** Connect the function straight to the server, not through the proxy (no added hop under load). */
  readonly direct?: boolean;
}

/** The function's application_name, so pg_stat_activity tells its connections from the test's own. */
const functionApplicationName = "scheduled-jobs-under-test";

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const db = await createTestDatabase();
  const target = new URL(db.url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const identity = createDevIdentity();
  const impostor = createDevIdentity({ kid: identity.kid, audience: identity.audience });
  const certs = await serveCerts(identity);
  const functionUrl = new URL(db.url);
  if (!options.direct) {
    functionUrl.hostname = "127.0.0.1";
    functionUrl.port = String(proxy.port);
  }
  // pg lets the connection string's parameters override the pool's own application_name.
  functionUrl.searchParams.set("application_name", functionApplicationName);
  let fn: FunctionProcess;
  try {
    fn = await startFunction({
      ...writeEnvironment({
        DATABASE_URL: functionUrl.toString(),
        DB_POOL_MAX: options.poolMax ?? 2,
        AUTH_AUDIENCE: [identity.audience],
        AUTH_ALLOWED_EMAILS: [identity.email],
        AUTH_CERTS_URL: certs.url,
      }),
      ...options.env,
    });
  } catch (error) {
    await certs.close();
    await proxy.close();
    await db.drop();
    throw error;
  }
  // One token for the whole file (it lives an hour); signing per request would only measure RSA.
  let token = identity.signIdToken();
  let tokenIssued = Date.now();
  const freshToken = (): string => {
    if (Date.now() - tokenIssued > 30 * 60_000) {
      token = identity.signIdToken();
      tokenIssued = Date.now();
    }
    return token;
  };
  const send = (request: RawRequest): Promise<RawResponse> => sendRaw(fn.port, request);
  return {
    db,
    proxy,
    identity,
    impostor,
    certs,
    fn,
    token: freshToken,
    send,
    functionConnections: () => connectionCount(db.pool, db.name, functionApplicationName),
    async post(body, headers = [], postOptions = {}) {
      const response = await sendRaw(
        fn.port,
        {
          method: "POST",
          path: "/",
          headers: [
            ["content-type", "application/json"],
            ["authorization", `Bearer ${freshToken()}`],
            ...headers,
          ],
          body: Buffer.from(JSON.stringify(body)),
        },
        postOptions,
      );
      return { ...response, json: jsonOf(response) };
    },
    async stop() {
      await fn.stop();
      await certs.close();
      await proxy.close();
      await db.drop();
    },
  };
}

/**
 * The `count` latest ticks of a task (as the catalog schedules it) at least a minute before the
 * clock at start, oldest first: a real tick of the job, in the past, whatever the date.
 */
export function pastTicks(task: string, count = 1): Date[] {
  const job = resolveJobs(tasks).jobs.find((candidate) => candidate.name === task);
  if (!job) throw new Error(`no task ${task}`);
  const ticks: Date[] = [];
  let cursor = new Date(Date.now() - 60_000);
  while (ticks.length < count) {
    const tick = previousFireTime(job, cursor);
    if (!tick) throw new Error(`${task} has no tick before ${cursor.toISOString()}`);
    ticks.unshift(tick);
    cursor = new Date(tick.getTime() - 1);
  }
  return ticks;
}

/** Cloud Scheduler's headers for one tick of a job. */
export function schedulerHeaders(job: string, scheduleTime: Date): Array<readonly [string, string]> {
  return [
    ["x-cloudscheduler", "true"],
    ["x-cloudscheduler-jobname", job],
    ["x-cloudscheduler-scheduletime", scheduleTime.toISOString().replace(".000Z", "Z")],
  ];
}
