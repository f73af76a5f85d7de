/**
 * Hostile input against the built function over real HTTP: thousands of generated requests, each
 * wrong in some way the contract names. Every answer is the documented 4xx JSON error, the process
 * stays up, and the database is exactly as it was (no run recorded, no task's effect).
 */
import { readFileSync, writeFileSync } from "node:fs";
import fc from "fast-check";
import { MAX_BODY_BYTES } from "../../functions/gcp/router.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseFingerprint } from "../helpers/db-fingerprint.js";
import { fingerprint } from "../helpers/db-fingerprint.js";
import { authorizationFor, problemsWithAnswer, Tally } from "../helpers/hostile-check.js";
import { hostileRequestAnywhere } from "../helpers/hostile-requests.js";
import type { RawResponse } from "../helpers/raw-http.js";
import { jsonOf, streamChunked } from "../helpers/raw-http.js";
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

/** The function process's resident memory, current and peak since the peak was last reset, in KiB. */
function memoryOf(pid: number): { rssKiB: number; peakKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssKiB: field("VmRSS"), peakKiB: field("VmHWM") };
}

describe("a body streamed without a declared length", () => {
  it("when 64 MiB arrive chunked, then 413 comes before the body ends and the function's memory stays bounded", async () => {
    const pid = stack.fn.pid;
    const totalBytes = 64 * 1024 * 1024;
    // Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current resident size, so the
    // peak read afterwards is this request's alone.
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    const before = memoryOf(pid);
    const answer = await streamChunked(stack.fn.port, {
      path: "/",
      headers: [
        ["content-type", "application/json"],
        ["authorization", `Bearer ${stack.token()}`],
      ],
      totalBytes,
    });
    const after = memoryOf(pid);
    const peakGrowthKiB = after.peakKiB - before.peakKiB;

    // Buffered whole, the body cost about 255 MiB; refused while streaming, a few socket buffers.
    expect(peakGrowthKiB).toBeLessThan(4 * 1024);
    expect(answer.status).toBe(413);
    expect(jsonOf(answer)).toMatchObject({ error: { code: "payload_too_large" } });
    expect(answer.bodyFinished).toBe(false);
    expect(stack.fn.exitCode()).toBeNull();

    recordFigures("streamed-body-limit", {
      bodyBytesOffered: totalBytes,
      bodyBytesWrittenBeforeTheAnswer: answer.bytesSent,
      answerMs: Math.round(answer.durationMs),
      rssBeforeKiB: before.rssKiB,
      peakGrowthKiB,
    });
  });
});
