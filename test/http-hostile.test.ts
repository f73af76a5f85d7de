/**
 * The fast share of the hostile-input suite: a few hundred generated hostile requests against the
 * function in-process (the framework's own Express app, real HTTP on loopback, real PostgreSQL).
 * Every answer is the documented 4xx JSON error and the database is unchanged. The long share, on
 * the built bundle in its own process, is `npm run test:reliability`.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeEnvironment } from "../functions/core/config/environment.js";
import { createLogger } from "../functions/core/log.js";
import { MAX_BODY_BYTES } from "../functions/gcp/router.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../scripts/local/dev-identity.js";
import { useTestDatabase } from "./helpers/database.js";
import { fingerprint } from "./helpers/db-fingerprint.js";
import type { RunningFunction } from "./helpers/function-server.js";
import { startFunction } from "./helpers/function-server.js";
import { authorizationFor, problemsWithAnswer } from "./helpers/hostile-check.js";
import { hostileRequestAnywhere } from "./helpers/hostile-requests.js";
import { sendRaw } from "./helpers/raw-http.js";
import { giveEveryTaskWork } from "./reliability/helpers/fixtures.js";

const RUNS = Number(process.env.HOSTILE_FAST_RUNS ?? 300);
const db = useTestDatabase();
let identity: DevIdentity;
let impostor: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;
let port: number;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  identity = createDevIdentity();
  impostor = createDevIdentity({ kid: identity.kid, audience: identity.audience });
  certs = await serveCerts(identity);
  fn = await startFunction({
    env: writeEnvironment({
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: [identity.audience],
      AUTH_ALLOWED_EMAILS: [identity.email],
      AUTH_CERTS_URL: certs.url,
    }),
    log: createLogger({}, (line) => logLines.push(JSON.parse(line) as Record<string, unknown>)),
  });
  port = Number(new URL(fn.url).port);
  await giveEveryTaskWork(db.pool);
});

afterAll(async () => {
  await fn?.close();
  await certs?.close();
});

describe("hostile HTTP input (in-process)", () => {
  it(`when ${RUNS} generated hostile requests arrive, then each gets the documented 4xx JSON error and the database is unchanged`, async () => {
    const before = await fingerprint(db.pool);
    const token = identity.signIdToken();
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(hostileRequestAnywhere({ maxBodyBytes: MAX_BODY_BYTES }), async (request) => {
        const authorization = authorizationFor(request, { token, identity, impostor });
        const response = await sendRaw(port, {
          method: request.method,
          path: request.path,
          headers: [
            ...request.headers,
            ...(authorization === undefined ? [] : [["authorization", authorization] as const]),
          ],
          body: request.body,
          chunked: request.chunked,
        });
        sent += 1;
        const problems = problemsWithAnswer(request, response, authorization);
        if (problems.length > 0) {
          throw new Error(
            `${request.defect} (${request.method} ${request.path.slice(0, 60)}): ${problems.join("; ")}`,
          );
        }
      }),
      { numRuns: RUNS },
    );
    expect(sent).toBeGreaterThanOrEqual(RUNS);
    expect(await fingerprint(db.pool)).toEqual(before);
    expect(logLines.filter((line) => line.severity === "ERROR")).toEqual([]);
  });

  it("when a request is refused, then the answer checker would have caught a wrong answer (the checker can fail)", () => {
    const request = {
      defect: "probe",
      method: "POST",
      path: "/",
      headers: [],
      authorization: { kind: "absent" as const },
      expected: [400],
    };
    const html = {
      status: 400,
      headers: { "content-type": "text/html" },
      body: Buffer.from(
        "<pre>SyntaxError: x<br> &nbsp; &nbsp;at parse (/app/node_modules/body-parser/lib/types/json.js:92:19)</pre>",
      ),
      durationMs: 1,
    };
    expect(problemsWithAnswer(request, html)).toHaveLength(3);
    const ran = {
      status: 200,
      headers: { "content-type": "application/json" },
      body: Buffer.from('{"status":"succeeded"}'),
      durationMs: 1,
    };
    expect(problemsWithAnswer(request, ran).length).toBeGreaterThanOrEqual(2);
    const wrongCode = {
      status: 400,
      headers: { "content-type": "application/json" },
      body: Buffer.from('{"error":{"code":"not_found","message":"x"}}'),
      durationMs: 1,
    };
    expect(problemsWithAnswer(request, wrongCode)).toEqual([
      "error code not_found does not map to status 400",
    ]);
  });
});
