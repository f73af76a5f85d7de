/**
 * Hostile input against the built function over real HTTP: thousands of generated requests, each
 * wrong in some way the contract names. Every answer is the documented 4xx JSON error, the process
 * stays up, and the database is exactly as it was (no run recorded, no task's effect).
 */
import fc from "fast-check";
import { MAX_BODY_BYTES } from "../../functions/router.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseFingerprint } from "../helpers/db-fingerprint.js";
import { fingerprint } from "../helpers/db-fingerprint.js";
import { authorizationFor, problemsWithAnswer, Tally } from "../helpers/hostile-check.js";
import { hostileRequestAnywhere } from "../helpers/hostile-requests.js";
import type { RawResponse } from "../helpers/raw-http.js";
import { recordFigures } from "./helpers/figures.js";
import { giveEveryTaskWork } from "./helpers/fixtures.js";
import type { Stack } from "./helpers/stack.js";
import { startStack } from "./helpers/stack.js";

const RUNS = Number(process.env.HOSTILE_RUNS ?? 5000);

let stack: Stack;
let before: DatabaseFingerprint;

beforeAll(async () => {
  stack = await startStack({ poolMax: 2 });
  await giveEveryTaskWork(stack.db.pool);
  before = await fingerprint(stack.db.pool);
});

afterAll(async () => {
  await stack?.stop();
});

describe("hostile HTTP input against the built function", () => {
  it(`when ${RUNS} generated hostile requests arrive, then each gets the documented 4xx JSON error, the process stays up and the database is unchanged`, async () => {
    const byDefect = new Tally();
    const byStatus = new Tally();
    let sent = 0;
    let accepted = 0;
    let tokensTried = 0;
    let bytes = 0;
    const token = stack.token();

    await fc.assert(
      fc.asyncProperty(hostileRequestAnywhere({ maxBodyBytes: MAX_BODY_BYTES }), async (request) => {
        const authorization = authorizationFor(request, {
          token,
          identity: stack.identity,
          impostor: stack.impostor,
        });
        const headers = [
          ...request.headers,
          ...(authorization === undefined ? [] : [["authorization", authorization] as const]),
        ];
        let response: RawResponse;
        try {
          response = await stack.send({
            method: request.method,
            path: request.path,
            headers,
            body: request.body,
            chunked: request.chunked,
          });
        } catch (error) {
          throw new Error(
            `${request.defect}: no answer (${(error as Error).message}); process exit code ${stack.fn.exitCode()}`,
            { cause: error },
          );
        }
        sent += 1;
        if (request.authorization.kind === "forged" || request.authorization.kind === "raw") tokensTried += 1;
        bytes += request.body?.length ?? 0;
        byDefect.add(request.defect.replace(/ at .*$/, "").replace(/\d+/g, "N"));
        byStatus.add(String(response.status));
        if (response.status < 400) accepted += 1;
        const problems = problemsWithAnswer(request, response, authorization);
        if (problems.length > 0) {
          throw new Error(
            `${request.defect} (${request.method} ${request.path.slice(0, 60)}): ${problems.join("; ")}`,
          );
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );

    // The corpus reached every check, not only the first one (the path): each refusal is well
    // represented and no single status dominates.
    for (const status of ["400", "401", "403", "404", "405", "413", "415"]) {
      expect(byStatus.counts.get(status) ?? 0, `answers ${status}`).toBeGreaterThan(RUNS / 200);
    }
    expect(Math.max(...byStatus.counts.values())).toBeLessThan(RUNS * 0.5);

    expect(stack.fn.exitCode()).toBeNull();
    const after = await fingerprint(stack.db.pool);
    expect(after).toEqual(before);
    const internal = stack.fn.logs.filter((line) => line.code === "internal" || line.severity === "ERROR");
    expect(internal).toEqual([]);

    // Still serving: a real request after the storm runs (a dry run changes nothing).
    const healthy = await stack.post({ task: "driver-inactivity-check", dryRun: true });
    expect(healthy.status).toBe(200);
    expect(healthy.json).toMatchObject({ status: "succeeded", rowsAffected: 1, dryRun: true });

    recordFigures("hostile-input", {
      inputsTried: sent,
      tokensTried,
      accepted,
      megabytesSent: Math.round(bytes / 1e5) / 10,
      byStatus: byStatus.toObject(),
      byDefect: byDefect.toObject(),
      processUp: stack.fn.exitCode() === null,
      databaseUnchanged: true,
    });
  });
});
