/**
 * The local stack's http task end to end: the built function under functions-framework calls the
 * demo app backend with an ID token it got from the local stand-in for the metadata server (through
 * google-auth-library, the deployed code), the backend checks that token as Cloud Run IAM would,
 * and the documented demo controls (docs/local.md, "An http task and its target") make runs fail,
 * retry and succeed as the docs say.
 */
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { devInvokerEmail, devRuntimeEmail } from "../../scripts/local/dev-identity.js";
import type { Attempt } from "../../scripts/local/local-scheduler.js";
import type { LocalStack } from "../../scripts/local/local-stack.js";
import { prepareDatabase, ROOT, startLocalStack } from "../../scripts/local/local-stack.js";
import { useTestDatabase } from "../helpers/database.js";
import { ManualClock } from "../helpers/manual-clock.js";

const TASK = "push-driver-notifications";
const DOCUMENTED_URL = "http://127.0.0.1:8083";
const db = useTestDatabase();
const functionDir = join(ROOT, ".data", `test-function-http-${process.pid}`);
const attempts: Attempt[] = [];
const functionLog: string[] = [];
let stack: LocalStack;
let clock: ManualClock;

beforeAll(async () => {
  await prepareDatabase(db.url, true);
  // Two minutes back, so the ticks this clock fires are past for the function's real clock.
  clock = new ManualClock(Math.floor(Date.now() / 60_000) * 60_000 - 120_000 + 30_000);
  stack = await startLocalStack({
    databaseUrl: db.url,
    functionPort: 0,
    consolePort: 0,
    appBackendPort: 0,
    functionDir,
    jobs: resolveJobs(tasks).jobs,
    clock,
    onAttempt: (attempt) => attempts.push(attempt),
    onFunctionLog: (line) => functionLog.push(line),
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(functionDir, { recursive: true, force: true });
});

/** A manual run through the function, as `force-run` or the dashboard's "run now" sends it. */
async function runNow(): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.functionUrl}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token()}`, "content-type": "application/json" },
    body: JSON.stringify({ task: TASK }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The demo's controls as docs/local.md shows them, in its order. */
function documentedCommands(): string[] {
  const text = readFileSync(join(ROOT, "docs", "local.md"), "utf8");
  const section = text.slice(text.indexOf("## An http task and its target"));
  return [...section.matchAll(/^curl -sS .*$/gm)].map((match) => match[0].replace(/\s+#.*$/, ""));
}

async function shell(command: string): Promise<string> {
  const { stdout } = await promisify(execFile)("bash", [
    "-c",
    command.replaceAll(DOCUMENTED_URL, stack.appBackend.url),
  ]);
  return stdout;
}

describe("an http task under npm start", () => {
  it("when its minute comes, then the tick reaches the app backend with the function's own ID token and the tick's key, and the run records the count it answered", async () => {
    const nextMinute = Math.ceil((clock.now() + 1) / 60_000) * 60_000;
    await clock.advanceTo(nextMinute, () => stack.scheduler!.settled());
    const fired = attempts.find((attempt) => attempt.job === TASK);
    expect(fired).toMatchObject({ status: 200, ok: true });
    expect(fired!.body).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    const tick = new Date(nextMinute).toISOString();
    expect(stack.appBackend.calls).toContainEqual(
      expect.objectContaining({
        path: `/internal/jobs/${TASK}`,
        idempotencyKey: `${TASK}:${tick}`,
        caller: devRuntimeEmail,
        status: 200,
      }),
    );
  });

  it("when a run comes with a trace header, then the function, told the local project, logs the run with its trace", async () => {
    const response = await fetch(`${stack.functionUrl}/`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${stack.token()}`,
        "content-type": "application/json",
        "x-cloud-trace-context": "0123456789abcdef0123456789abcdef/1;o=1",
      },
      body: JSON.stringify({ task: TASK }),
    });
    expect(response.status).toBe(200);
    const traced = functionLog
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line["logging.googleapis.com/trace"] !== undefined);
    expect(traced.map((line) => line["logging.googleapis.com/trace"])).toContain(
      "projects/local-dev/traces/0123456789abcdef0123456789abcdef",
    );
  });

  it("when a call comes without the function's token for the backend, then the backend refuses it", async () => {
    const post = (authorization?: string) =>
      fetch(`${stack.appBackend.url}/internal/jobs/${TASK}`, {
        method: "POST",
        headers: authorization ? { authorization } : {},
        body: "{}",
      }).then((response) => response.status);
    expect(await post()).toBe(401);
    // A token for the function's audience, not the backend's.
    expect(await post(`Bearer ${stack.token()}`)).toBe(401);
    // The backend's audience, but the scheduler's account, which may not invoke it.
    const scheduler = stack.identity.signIdToken({ aud: stack.appBackend.url, email: devInvokerEmail });
    expect(await post(`Bearer ${scheduler}`)).toBe(403);
    expect(
      await post(
        `Bearer ${stack.identity.signIdToken({ aud: stack.appBackend.url, email: devRuntimeEmail })}`,
      ),
    ).toBe(200);
  });

  it("when the documented controls are used, then runs fail, wait out a 429 and succeed, and are refused, as docs/local.md says", async () => {
    const [fail, wait, refuse, calls, clear] = documentedCommands();
    expect(documentedCommands()).toHaveLength(5);

    await shell(fail!);
    const failed = await runNow();
    expect(failed.status).toBe(503);
    expect(failed.body).toMatchObject({ error: { code: "unavailable" } });

    await shell(wait!);
    const started = Date.now();
    const waited = await runNow();
    expect(waited).toMatchObject({ status: 200, body: { status: "succeeded", rowsAffected: 3 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);

    await shell(refuse!);
    const refused = await runNow();
    expect(refused.status).toBe(424);
    expect(refused.body).toMatchObject({ error: { code: "target_refused" } });

    const received = JSON.parse(await shell(calls!)) as {
      calls: { status: number; idempotencyKey: string }[];
    };
    expect(received.calls.slice(-4).map((call) => call.status)).toEqual([503, 429, 200, 400]);
    // A manual run's key is its own; the 429's retry kept it.
    const [, first, retried] = received.calls.slice(-4);
    expect(retried!.idempotencyKey).toBe(first!.idempotencyKey);
    expect(first!.idempotencyKey).toMatch(new RegExp(`^${TASK}:manual:`));

    await shell(`curl -sS -X POST ${DOCUMENTED_URL}/demo/next -d '{"status": 503, "times": 2}'`);
    expect(JSON.parse(await shell(clear!))).toEqual({ queued: [] });
    expect((await runNow()).status).toBe(200);

    const history = await db.pool.query<{ status: string; error_code: string | null }>(
      "SELECT status, error_code FROM scheduler.job_runs WHERE task = $1 AND trigger <> 'scheduler' ORDER BY id",
      [TASK],
    );
    expect(history.rows.slice(-4)).toEqual([
      { status: "failed", error_code: "unavailable" },
      { status: "succeeded", error_code: null },
      { status: "failed", error_code: "target_refused" },
      { status: "succeeded", error_code: null },
    ]);
  }, 30_000);
});
