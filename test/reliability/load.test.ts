/**
 * Load: 500 requests at once against one instance of the built function whose pool holds 2
 * connections. Every request is answered as the contract says, no tick runs twice, every run
 * answered is in the history, and the instance holds no more connections afterwards than before.
 */
import fc from "fast-check";
import { MAX_BODY_BYTES } from "../../functions/gcp/router.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizationFor, problemsWithAnswer } from "../helpers/hostile-check.js";
import { hostileRequest } from "../helpers/hostile-requests.js";
import { fireAtOnce, percentile } from "../helpers/load.js";
import type { RawResponse } from "../helpers/raw-http.js";
import { jsonOf } from "../helpers/raw-http.js";
import { recordFigures } from "./helpers/figures.js";
import { giveEveryTaskWork } from "./helpers/fixtures.js";
import type { Stack } from "./helpers/stack.js";
import { findTask, overlapOf } from "../../functions/core/catalog.js";
import { pastTicks, schedulerHeaders, startStack } from "./helpers/stack.js";

const TOTAL = 500;
const POOL = 2;
const tasks = [
  "driver-inactivity-check",
  "auto-cancel-unconfirmed-orders",
  "cleanup-expired-sessions",
  "generate-daily-stats",
] as const;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ poolMax: POOL, direct: true });
  await giveEveryTaskWork(stack.db.pool);
});

afterAll(async () => {
  await stack?.stop();
});

type Planned =
  | { kind: "tick"; task: string; tick: Date }
  | { kind: "dry"; task: string }
  | { kind: "hostile"; index: number };

describe("load", () => {
  it(`when ${TOTAL} requests arrive at once at one instance with a pool of ${POOL}, then all are answered correctly, no tick runs twice and no connection leaks`, async () => {
    // Warm the instance (certificates fetched, pool opened) so "before" counts its steady state.
    expect((await stack.post({ task: "generate-daily-stats", dryRun: true })).status).toBe(200);
    const before = await stack.functionConnections();

    // 400 scheduler deliveries: 4 tasks x 20 ticks x 5 deliveries of each tick; 50 dry runs;
    // 50 hostile requests.
    const plan: Planned[] = [];
    for (const task of tasks) {
      // 20 real ticks of each task, in the past: only a tick of the job's schedule deduplicates.
      for (const tick of pastTicks(task, 20)) {
        for (let copy = 0; copy < 5; copy++) plan.push({ kind: "tick", task, tick });
      }
    }
    for (let i = 0; i < 50; i++) plan.push({ kind: "dry", task: tasks[i % tasks.length]! });
    const hostile = fc.sample(
      hostileRequest({ maxBodyBytes: MAX_BODY_BYTES }).filter(
        (request) => (request.body?.length ?? 0) < 100_000,
      ),
      { numRuns: 50, seed: 42 },
    );
    hostile.forEach((_, index) => plan.push({ kind: "hostile", index }));
    // Interleaved, so that runs, skips, duplicates and refusals compete for the 2 connections.
    const [order] = fc.sample(
      fc.shuffledSubarray(
        plan.map((_, i) => i),
        { minLength: plan.length },
      ),
      {
        numRuns: 1,
        seed: 7,
      },
    );
    plan.splice(0, plan.length, ...order!.map((i) => plan[i]!));

    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await stack.functionConnections());
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    const token = stack.token();
    const logsBefore = stack.fn.logs.length;
    const report = await fireAtOnce(plan.length, async (index): Promise<RawResponse> => {
      const item = plan[index]!;
      if (item.kind === "hostile") {
        const request = hostile[item.index]!;
        const authorization = authorizationFor(request, {
          token,
          identity: stack.identity,
          impostor: stack.impostor,
        });
        return stack.send({
          method: request.method,
          path: request.path,
          headers: [
            ...request.headers,
            ...(authorization ? [["authorization", authorization] as const] : []),
          ],
          body: request.body,
          chunked: request.chunked,
        });
      }
      const body = item.kind === "dry" ? { task: item.task, dryRun: true } : { task: item.task };
      const headers = item.kind === "tick" ? schedulerHeaders(item.task, item.tick) : [];
      return stack.send({
        method: "POST",
        path: "/",
        headers: [["content-type", "application/json"], ["authorization", `Bearer ${token}`], ...headers],
        body: Buffer.from(JSON.stringify(body)),
      });
    });
    sampling = false;
    await sampler;

    const wrong: string[] = [];
    const runIds = new Map<string, string>();
    const outcomes: Record<string, number> = {};
    report.results.forEach((result, index) => {
      const item = plan[index]!;
      if (!result.value) {
        wrong.push(`${index} ${item.kind}: no answer (${String(result.error)})`);
        return;
      }
      const response = result.value;
      if (item.kind === "hostile") {
        const problems = problemsWithAnswer(hostile[item.index]!, response);
        if (problems.length > 0) wrong.push(`${index} hostile: ${problems.join("; ")}`);
        outcomes.refused = (outcomes.refused ?? 0) + 1;
        return;
      }
      const json = jsonOf(response) as
        | { status?: string; runId?: string; task?: string; error?: { code?: string; task?: string } }
        | undefined;
      // A tick of a task whose overlap policy is "retry" that finds the lock held answers 409, so
      // Cloud Scheduler retries it: a correct answer, recorded skipped.
      if (
        item.kind === "tick" &&
        overlapOf(findTask(item.task)!) === "retry" &&
        response.status === 409 &&
        json?.error?.code === "lock_held" &&
        json.error.task === item.task
      ) {
        outcomes.lock_held = (outcomes.lock_held ?? 0) + 1;
        return;
      }
      const allowed = item.kind === "dry" ? ["succeeded", "skipped"] : ["succeeded", "skipped", "duplicate"];
      if (
        response.status !== 200 ||
        !json?.status ||
        !allowed.includes(json.status) ||
        json.task !== item.task
      ) {
        wrong.push(
          `${index} ${item.kind} ${item.task}: ${response.status} ${response.body.toString().slice(0, 200)}`,
        );
        return;
      }
      outcomes[json.status] = (outcomes[json.status] ?? 0) + 1;
      if (item.kind === "tick" && json.status === "succeeded") {
        const key = `${item.task}@${item.tick.toISOString()}`;
        if (runIds.has(key)) wrong.push(`${key} ran twice (${runIds.get(key)} and ${json.runId})`);
        runIds.set(key, json.runId!);
      }
    });

    // Let idle connections settle, then count again: the pool keeps at most its size.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await stack.functionConnections();

    const history = await stack.db.pool.query<{ task: string; schedule_time: Date; n: number }>(
      `SELECT task, schedule_time, count(*)::int AS n FROM scheduler.job_runs
       WHERE status = 'succeeded' AND schedule_time IS NOT NULL AND NOT dry_run
       GROUP BY 1, 2 HAVING count(*) > 1`,
    );
    const running = await stack.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM scheduler.job_runs WHERE status = 'running'",
    );
    const recorded = await stack.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM scheduler.job_runs WHERE id::text = ANY($1)",
      [[...runIds.values()]],
    );

    // The function's own view (its request log's latency): time inside the instance, queueing for
    // one of the 2 connections included, the client's TCP and the test's proxy excluded.
    const inside = stack.fn.logs
      .slice(logsBefore)
      .map((line) => line.latencyMs)
      .filter((ms): ms is number => typeof ms === "number")
      .sort((a, b) => a - b);

    recordFigures("load", {
      requests: plan.length,
      concurrency: plan.length,
      poolSize: POOL,
      p50Ms: Math.round(report.p50 * 10) / 10,
      p99Ms: Math.round(report.p99 * 10) / 10,
      maxMs: Math.round(report.max * 10) / 10,
      wallMs: Math.round(report.wallMs),
      functionP50Ms: percentile(inside, 50),
      functionP99Ms: percentile(inside, 99),
      outcomes,
      wrongAnswers: wrong.length,
      duplicatesExecuted: history.rows.length,
      connectionsBefore: before,
      connectionsPeak: peak,
      connectionsAfter: after,
    });

    expect(wrong).toEqual([]);
    expect(history.rows).toEqual([]);
    expect(running.rows[0]!.n).toBe(0);
    expect(recorded.rows[0]!.n).toBe(runIds.size);
    expect(peak).toBeLessThanOrEqual(POOL);
    expect(after).toBeLessThanOrEqual(POOL);
    expect(after).toBeLessThanOrEqual(Math.max(before, POOL));
    expect(stack.fn.exitCode()).toBeNull();
  });
});
