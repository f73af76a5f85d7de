import { createServer } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tasks } from "../../functions/core/catalog.js";
import type { Job } from "../../scripts/lib/jobs.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import type { Attempt } from "../../scripts/local/local-scheduler.js";
import { LocalScheduler } from "../../scripts/local/local-scheduler.js";
import { ManualClock } from "../helpers/manual-clock.js";

interface Received {
  at: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP target that records what it received and answers what the test says. */
let received: Received[] = [];
let answer: (request: Received) => number = () => 200;
let clock: ManualClock;
let url: string;
const server = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk: Buffer) => (body += chunk.toString()));
  request.on("end", () => {
    const entry = {
      at: clock.now(),
      method: request.method ?? "",
      url: request.url ?? "",
      headers: request.headers,
      body,
    };
    received.push(entry);
    const status = answer(entry);
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify({ status: status < 300 ? "succeeded" : "failed" }));
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  received = [];
  answer = () => 200;
});

function job(name: string, overrides: Partial<Job> = {}): Job {
  return { ...resolveJobs(tasks).jobs.find((j) => j.name === name)!, ...overrides };
}

function scheduler(jobs: Job[], start: string, onAttempt?: (attempt: Attempt) => void) {
  clock = new ManualClock(new Date(start));
  let tokens = 0;
  const local = new LocalScheduler({
    jobs,
    url,
    clock,
    token: () => `token-${++tokens}`,
    ...(onAttempt ? { onAttempt } : {}),
  });
  const advance = (to: string) => clock.advanceTo(new Date(to), () => local.settled());
  return { local, advance };
}

describe("the local scheduler", () => {
  it("when a minute job's tick comes, then it POSTs exactly what Cloud Scheduler sends", async () => {
    const { local, advance } = scheduler([job("auto-cancel-unconfirmed-orders")], "2026-11-29T04:00:30Z");
    local.start();
    await advance("2026-11-29T04:01:00Z");
    await local.stop();
    expect(received).toHaveLength(1);
    const request = received[0]!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe("/");
    expect(JSON.parse(request.body)).toEqual({ task: "auto-cancel-unconfirmed-orders" });
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["user-agent"]).toBe("Google-Cloud-Scheduler");
    expect(request.headers["x-cloudscheduler"]).toBe("true");
    expect(request.headers["x-cloudscheduler-jobname"]).toBe(
      "projects/local-dev/locations/local/jobs/auto-cancel-unconfirmed-orders",
    );
    expect(request.headers["x-cloudscheduler-scheduletime"]).toBe("2026-11-29T04:01:00Z");
    expect(request.headers.authorization).toBe("Bearer token-1");
    expect(request.at).toBe(new Date("2026-11-29T04:01:00Z").getTime());
  });

  it("when time passes, then each job fires at each of its own fire times, once", async () => {
    const { local, advance } = scheduler(
      [
        job("auto-cancel-unconfirmed-orders"),
        job("driver-inactivity-check"),
        job("cleanup-expired-sessions"),
      ],
      "2026-11-29T03:58:10Z",
    );
    local.start();
    await advance("2026-11-29T04:10:00Z");
    await local.stop();
    const fired = (name: string) =>
      received
        .filter((r) => JSON.parse(r.body).task === name)
        .map((r) => r.headers["x-cloudscheduler-scheduletime"]);
    expect(fired("auto-cancel-unconfirmed-orders")).toHaveLength(12);
    expect(new Set(fired("auto-cancel-unconfirmed-orders")).size).toBe(12);
    expect(fired("driver-inactivity-check")).toEqual([
      "2026-11-29T04:00:00Z",
      "2026-11-29T04:05:00Z",
      "2026-11-29T04:10:00Z",
    ]);
    expect(fired("cleanup-expired-sessions")).toEqual(["2026-11-29T04:00:00Z"]);
  });

  it("when a job's zone changes to daylight saving time, then the clock-driven scheduler fires at the wall-clock times, the skipped one right after the gap", async () => {
    const { local, advance } = scheduler(
      [job("generate-daily-stats", { schedule: "30 2 * * *", timeZone: "America/New_York" })],
      "2026-03-07T12:00:00Z",
    );
    local.start();
    await advance("2026-03-10T12:00:00Z");
    await local.stop();
    expect(received.map((r) => r.headers["x-cloudscheduler-scheduletime"])).toEqual([
      "2026-03-08T07:00:00Z", // 02:30 does not exist on 8 March: 03:00 EDT
      "2026-03-09T06:30:00Z",
      "2026-03-10T06:30:00Z",
    ]);
    expect(received.map((r) => new Date(r.at).toISOString())).toEqual([
      "2026-03-08T07:00:00.000Z",
      "2026-03-09T06:30:00.000Z",
      "2026-03-10T06:30:00.000Z",
    ]);
  });

  it("when a job is paused, then it never fires", async () => {
    const { local, advance } = scheduler(
      [job("auto-cancel-unconfirmed-orders", { paused: true }), job("driver-inactivity-check")],
      "2026-11-29T04:00:30Z",
    );
    local.start();
    await advance("2026-11-29T04:30:00Z");
    await local.stop();
    expect(received.map((r) => JSON.parse(r.body).task)).not.toContain("auto-cancel-unconfirmed-orders");
    expect(received).toHaveLength(6);
  });

  it("when the target answers 500, then the tick is retried with the policy's backoff and the same schedule time", async () => {
    const policy = { retryCount: 3, minBackoffSeconds: 30, maxBackoffSeconds: 600, maxDoublings: 3 };
    answer = (request) => (received.indexOf(request) < 3 ? 500 : 200);
    const attempts: Attempt[] = [];
    const { local, advance } = scheduler(
      [job("generate-daily-stats", { retry: policy })],
      "2026-11-29T00:04:00Z",
      (a) => attempts.push(a),
    );
    local.start();
    await advance("2026-11-29T01:00:00Z");
    await local.stop();
    const start = new Date("2026-11-29T00:05:00Z").getTime();
    expect(received.map((r) => (r.at - start) / 1000)).toEqual([0, 30, 90, 210]);
    expect(new Set(received.map((r) => r.headers["x-cloudscheduler-scheduletime"]))).toEqual(
      new Set(["2026-11-29T00:05:00Z"]),
    );
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 200],
    ]);
  });

  it("when every attempt fails, then it stops after retryCount retries", async () => {
    answer = () => 503;
    const policy = { retryCount: 2, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 2 };
    const { local, advance } = scheduler(
      [job("generate-daily-stats", { retry: policy })],
      "2026-11-29T00:04:00Z",
    );
    local.start();
    await advance("2026-11-29T02:00:00Z");
    await local.stop();
    expect(received).toHaveLength(3);
  });

  it("when the answer is 4xx or 2xx with a failed-looking body, then only a non-2xx status is retried", async () => {
    answer = () => 422;
    const policy = { retryCount: 1, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 2 };
    const { local, advance } = scheduler(
      [job("generate-daily-stats", { retry: policy })],
      "2026-11-29T00:04:00Z",
    );
    local.start();
    await advance("2026-11-29T00:10:00Z");
    expect(received).toHaveLength(2); // 422 is non-2xx: Cloud Scheduler retries it too
    answer = () => 200;
    await advance("2026-11-30T00:10:00Z");
    await local.stop();
    expect(received).toHaveLength(3);
  });

  it("when a retry would fall after the next tick, then retrying stops and the next tick fires on time", async () => {
    answer = () => 500;
    // Every minute, a 5 s first backoff that doubles: 5, 10, 20, 40 s: the fourth would pass the next tick.
    const policy = { retryCount: 5, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 4 };
    const { local, advance } = scheduler(
      [job("auto-cancel-unconfirmed-orders", { retry: policy })],
      "2026-11-29T04:00:30Z",
    );
    local.start();
    await advance("2026-11-29T04:02:00Z");
    await local.stop();
    const t0 = new Date("2026-11-29T04:01:00Z").getTime();
    expect(received.map((r) => [(r.at - t0) / 1000, r.headers["x-cloudscheduler-scheduletime"]])).toEqual([
      [0, "2026-11-29T04:01:00Z"],
      [5, "2026-11-29T04:01:00Z"],
      [15, "2026-11-29T04:01:00Z"],
      [35, "2026-11-29T04:01:00Z"],
      [60, "2026-11-29T04:02:00Z"],
    ]);
  });

  it("when the process was suspended past many ticks, then the backlog is not replayed and firing resumes at the next tick", async () => {
    const skipped: Date[][] = [];
    clock = new ManualClock(new Date("2026-11-29T04:00:30Z"));
    const local = new LocalScheduler({
      jobs: [job("auto-cancel-unconfirmed-orders")],
      url,
      clock,
      token: () => "t",
      onSkippedBacklog: (_job, missed) => skipped.push(missed),
    });
    local.start();
    await clock.advanceTo(new Date("2026-11-29T04:01:00Z"), () => local.settled());
    expect(received).toHaveLength(1);
    clock.jump(2 * 3600_000); // asleep for two hours: no timer ran
    await clock.advanceTo(clock.now() + 1, () => local.settled());
    expect(received).toHaveLength(1);
    expect(skipped[0]!.length).toBe(120);
    await clock.advanceTo(new Date("2026-11-29T06:02:00Z"), () => local.settled());
    await local.stop();
    expect(received.map((r) => r.headers["x-cloudscheduler-scheduletime"])).toEqual([
      "2026-11-29T04:01:00Z",
      "2026-11-29T06:02:00Z",
    ]);
  });

  it("when a tick's request is still running at the next tick, then the next one waits and no schedule time fires twice", async () => {
    let release: (() => void) | undefined;
    const slowServer = createServer((request, response) => {
      let body = "";
      request.on("data", (c: Buffer) => (body += c.toString()));
      request.on("end", () => {
        received.push({ at: clock.now(), method: "POST", url: "/", headers: request.headers, body });
        if (received.length === 1) {
          release = () => response.end("{}");
        } else response.end("{}");
      });
    });
    await new Promise<void>((resolve) => slowServer.listen(0, "127.0.0.1", resolve));
    const slowUrl = `http://127.0.0.1:${(slowServer.address() as AddressInfo).port}/`;
    clock = new ManualClock(new Date("2026-11-29T04:00:30Z"));
    const local = new LocalScheduler({
      jobs: [job("auto-cancel-unconfirmed-orders")],
      url: slowUrl,
      clock,
      token: () => "t",
    });
    local.start();
    await clock.advanceTo(new Date("2026-11-29T04:01:00Z"));
    while (received.length < 1) await new Promise((r) => setTimeout(r, 2));
    // The first request hangs across two more ticks; only the latest waits for it.
    await clock.advanceTo(new Date("2026-11-29T04:03:00Z"));
    await new Promise((r) => setTimeout(r, 20));
    expect(received).toHaveLength(1);
    release!();
    await local.idle();
    await local.stop();
    slowServer.closeAllConnections();
    await new Promise((resolve) => slowServer.close(resolve));
    const times = received.map((r) => r.headers["x-cloudscheduler-scheduletime"]);
    expect(times[0]).toBe("2026-11-29T04:01:00Z");
    expect(times.length).toBeLessThanOrEqual(3);
    expect(new Set(times).size).toBe(times.length);
    expect(times.at(-1)).toBe("2026-11-29T04:03:00Z");
  });

  it("when the target is unreachable, then the attempt is reported failed with the reason and retried", async () => {
    const attempts: Attempt[] = [];
    clock = new ManualClock(new Date("2026-11-29T00:04:00Z"));
    const policy = { retryCount: 1, minBackoffSeconds: 5, maxBackoffSeconds: 60, maxDoublings: 2 };
    const local = new LocalScheduler({
      jobs: [job("generate-daily-stats", { retry: policy })],
      url: "http://127.0.0.1:1/",
      clock,
      token: () => "t",
      onAttempt: (a) => attempts.push(a),
    });
    local.start();
    await clock.advanceTo(new Date("2026-11-29T00:06:00Z"), () => local.settled());
    await local.stop();
    expect(attempts.map((a) => [a.attempt, a.ok, a.status])).toEqual([
      [1, false, undefined],
      [2, false, undefined],
    ]);
    expect(attempts[0]!.error).toMatch(/fetch failed|ECONNREFUSED/);
  });
});
