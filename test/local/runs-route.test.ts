import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../functions/core/log.js";
import type { CertsServer, DevIdentity } from "../../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../../scripts/local/dev-identity.js";
import { useTestDatabase } from "../helpers/database.js";
import type { RunningFunction } from "../helpers/function-server.js";
import { call, startFunction } from "../helpers/function-server.js";

const db = useTestDatabase();
let identity: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;

beforeAll(async () => {
  identity = createDevIdentity({ audience: "http://localhost:8080" });
  certs = await serveCerts(identity);
  fn = await startFunction({
    env: {
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: "http://localhost:8080",
      AUTH_ALLOWED_EMAILS: identity.email,
      AUTH_CERTS_URL: certs.url,
    },
    log: createLogger({}, () => undefined),
  });
  await db.pool.query(`
    INSERT INTO scheduler.job_runs (task, trigger, status, started_at, duration_ms, error_code, message)
    SELECT CASE WHEN g % 2 = 0 THEN 'generate-daily-stats' ELSE 'cleanup-expired-sessions' END, 'scheduler',
           CASE WHEN g % 5 = 0 THEN 'failed' ELSE 'succeeded' END, now() - make_interval(mins => g), g,
           CASE WHEN g % 5 = 0 THEN 'task_failed' END, CASE WHEN g % 5 = 0 THEN 'boom' END
    FROM generate_series(1, 30) g`);
});

afterAll(async () => {
  await fn?.close();
  await certs?.close();
});

describe("GET /runs and GET /dashboard", () => {
  it("when asked with a token, then /runs answers the newest runs first, filtered by task and failure", async () => {
    const all = await call(`${fn.url}/runs`, { token: identity.signIdToken() });
    expect(all.status).toBe(200);
    const runs = all.body.runs as { task: string; status: string; startedAt: string }[];
    expect(runs).toHaveLength(30);
    expect(runs.map((r) => r.startedAt)).toEqual([...runs.map((r) => r.startedAt)].sort().reverse());

    const some = await call(`${fn.url}/runs?task=generate-daily-stats&failed=true&limit=2`, {
      token: identity.signIdToken(),
    });
    expect(some.body.runs).toEqual([
      expect.objectContaining({ task: "generate-daily-stats", status: "failed", message: "boom" }),
      expect.objectContaining({ task: "generate-daily-stats", status: "failed", message: "boom" }),
    ]);
  });

  it("when the query is malformed, then 400 says what is wrong", async () => {
    const token = identity.signIdToken();
    expect((await call(`${fn.url}/runs?limit=0`, { token })).body.error).toMatchObject({
      code: "bad_request",
      message: '"limit" must be an integer from 1 to 1000',
    });
    expect((await call(`${fn.url}/runs?task=nope`, { token })).body.error?.message).toBe(
      'unknown task "nope"',
    );
    expect((await call(`${fn.url}/runs?sort=asc`, { token })).body.error?.message).toBe(
      "unknown query parameter(s): sort",
    );
  });

  it("when there is no token, then /runs and /dashboard answer 401 and no page", async () => {
    for (const path of ["/runs", "/dashboard"]) {
      const answer = await call(`${fn.url}${path}`);
      expect(answer.status).toBe(401);
      expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
    }
  });

  it("when /dashboard is asked with a token, then it is one self-contained page that fetches only its own data", async () => {
    const answer = await call(`${fn.url}/dashboard`, { token: identity.signIdToken() });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(answer.headers.get("content-security-policy")).toMatch(/default-src 'none'; connect-src 'self'/);
    expect(answer.text).not.toMatch(
      /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
    );
    expect(
      (await call(`${fn.url}/dashboard`, { method: "POST", token: identity.signIdToken() })).status,
    ).toBe(405);
  });
});
