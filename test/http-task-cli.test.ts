/**
 * A direct run of an http task (`run <task> --direct`, what `npm run task` is), in a child process
 * as a user runs it, against real PostgreSQL, a local stand-in for the target and, for the
 * identity, google-auth-library itself: with a service account (a stand-in metadata server, as on
 * a Google Cloud VM) the run calls the target with that account's ID token and is recorded; without
 * the stack's target in HTTP_TARGETS, or with a person's gcloud credentials, nothing runs, nothing is
 * recorded, and the error says why and what to do. A dry run needs no identity.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { findTask } from "../functions/core/catalog.js";
import { childEnv } from "../scripts/local/child-env.js";
import { ROOT } from "../scripts/local/local-stack.js";
import { createDevIdentity } from "../scripts/local/dev-identity.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const TASK = "push-driver-notifications";
const task = findTask(TASK);
const account = createDevIdentity({ email: "sched-jobs-runtime@my-project.iam.gserviceaccount.com" });
const home = mkdtempSync(join(tmpdir(), "sj-http-cli-"));
const received: { path: string; headers: IncomingHttpHeaders }[] = [];
let target: Server;
let metadata: Server;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  target = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers });
      res.writeHead(200, { "content-type": "application/json" }).end('{"rowsAffected": 3}');
    });
  });
  // Google's metadata server as a VM's service account sees it: an ID token for any audience.
  metadata = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://metadata");
    const audience = url.searchParams.get("audience");
    if (url.pathname !== "/computeMetadata/v1/instance/service-accounts/default/identity" || !audience) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "metadata-flavor": "Google" }).end(account.signIdToken({ aud: audience }));
  });
  await Promise.all([listen(target), listen(metadata)]);
});

afterAll(async () => {
  for (const server of [target, metadata]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

beforeEach(async () => {
  received.length = 0;
  await db.pool.query("TRUNCATE scheduler.job_runs RESTART IDENTITY CASCADE");
});

const targets = (): string =>
  JSON.stringify({
    [task?.http?.target ?? ""]: {
      url: `http://127.0.0.1:${(target.address() as AddressInfo).port}`,
      audience: "https://app-backend-123456789012.europe-west1.run.app",
      internal: true,
    },
  });

/** A person's gcloud application default credentials, as `gcloud auth application-default login` writes them. */
function personCredentials(): string {
  const file = join(home, "person-adc.json");
  writeFileSync(
    file,
    JSON.stringify({
      type: "authorized_user",
      client_id: "764086051850-example.apps.googleusercontent.com",
      client_secret: "not-a-secret",
      refresh_token: "1//not-a-token",
    }),
  );
  return file;
}

/** The CLI in a child, with this environment and no gcloud configuration of this machine's. */
async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  return promisify(execFile)(process.execPath, ["--import", "tsx", "scripts/cli.ts", ...args], {
    cwd: ROOT,
    env: childEnv({ DATABASE_URL: db.url, CLOUDSDK_CONFIG: home, METADATA_SERVER_DETECTION: "none", ...env }),
    timeout: 60_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, out: stdout, err: stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      out: error.stdout,
      err: error.stderr,
    }),
  );
}

async function recorded(): Promise<{ status: string; trigger: string }[]> {
  return (
    await db.pool.query<{ status: string; trigger: string }>("SELECT status, trigger FROM scheduler.job_runs")
  ).rows;
}

describe("a direct run of an http task", () => {
  it("with the stack's target and a service account, then it calls the target with the account's ID token and records the run", async () => {
    expect(task?.kind, "the catalog's http task").toBe("http");
    const run = await cli(["run", TASK, "--direct", "--json"], {
      HTTP_TARGETS: targets(),
      GCE_METADATA_HOST: `127.0.0.1:${(metadata.address() as AddressInfo).port}`,
      METADATA_SERVER_DETECTION: "assume-present",
    });
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ task: TASK, status: "succeeded", rowsAffected: 3 });
    expect(received.map((call) => call.path)).toEqual([task?.http?.path]);
    const token = (received[0]?.headers.authorization ?? "").replace(/^Bearer /, "");
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      aud: "https://app-backend-123456789012.europe-west1.run.app",
      email: account.email,
    });
    expect(await recorded()).toEqual([{ status: "succeeded", trigger: "cli" }]);
  });

  it("when HTTP_TARGETS does not name the task's target, then nothing runs and it says how to name it or run through the function", async () => {
    const unnamed: Record<string, string>[] = [
      {},
      { HTTP_TARGETS: '{"billing":{"url":"https://billing.example"}}' },
    ];
    for (const env of unnamed) {
      const run = await cli(["run", TASK, "--direct"], env);
      expect(run.code).toBe(4);
      expect(run.err).toContain(`${TASK} calls "app-backend", which HTTP_TARGETS does not name`);
      expect(run.err).toContain('HTTP_TARGETS=\'{"app-backend":{"url":"https://');
      expect(run.err).toContain(`force-run ${TASK}`);
      expect(run.err).toContain(`gcloud scheduler jobs run ${TASK}`);
    }
    const malformed = await cli(["run", TASK, "--direct"], {
      HTTP_TARGETS: '{"app-backend":{"url":"ftp://x"}}',
    });
    expect(malformed.code).toBe(2);
    expect(malformed.err).toMatch(/HTTP_TARGETS: httpTargets\.app-backend\.url .* must use https/);
    expect(await recorded()).toEqual([]);
    expect(received).toEqual([]);
  });

  it("when the only credentials are a person's gcloud login, then nothing runs and it says to impersonate the function's account; a dry run needs none", async () => {
    const env = { HTTP_TARGETS: targets(), GOOGLE_APPLICATION_CREDENTIALS: personCredentials() };
    const run = await cli(["run", TASK, "--direct"], env);
    expect(run.code).toBe(4);
    expect(run.err).toContain("are a person's (gcloud auth application-default login)");
    expect(run.err).toContain("--impersonate-service-account");
    expect(run.err).toContain(`force-run ${TASK}`);
    expect(await recorded()).toEqual([]);

    const dry = await cli(["run", TASK, "--direct", "--dry-run", "--json"], env);
    expect(dry.code, dry.err).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({ status: "succeeded", dryRun: true });
    expect(received).toEqual([]);
  });

  it("when there are no credentials at all, then nothing runs and it says what to be", async () => {
    const run = await cli(["run", TASK, "--direct"], { HTTP_TARGETS: targets() });
    expect(run.code).toBe(4);
    expect(run.err).toContain("there is none to call as here");
    expect(run.err).toContain("--impersonate-service-account");
    expect(await recorded()).toEqual([]);
  });
});
