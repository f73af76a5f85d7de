/**
 * The dead-man under mocks: one uptime check of GET /health?task=<name> and one alert per task the
 * stack does not pause, whatever runs the task, with a cadence from the task's schedule, the grant the
 * checks' identity needs, and nothing that depends on Cloud Scheduler or the function's logs.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../functions/gcp/auth.js";
import { signatureRemovedMarker } from "../../functions/gcp/google-identities.js";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import { parseAuthEnv } from "../../functions/core/config/function-config.js";
import { taskHealth } from "../../functions/core/reads/health.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";
import { longestIntervalSeconds } from "../../functions/core/schedule/fire-times.js";
import { StackConfigError } from "../../infra/config.js";
import { resolveConfig } from "../../infra/gcp/config.js";
import { DEAD_MAN_CONTENT, deadManTiming } from "../../infra/gcp/dead-man.js";
import type { Inputs, StackRun } from "./harness.js";
import { baseConfig, fakeBundle, PROJECT, PROJECT_NUMBER, REGION, runStack } from "./harness.js";

const CHECK = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig";
const POLICY = "gcp:monitoring/alertPolicy:AlertPolicy";
const COMPONENT = "scheduled-jobs:index:DeadManCheck";
const SERVICE_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember";
const FUNCTION = "gcp:cloudfunctionsv2/function:Function";
const AGENT = `service-${PROJECT_NUMBER}@gcp-sa-monitoring-notification.iam.gserviceaccount.com`;

/** A stack that pauses one daily task and makes another weekly, as an operator would. */
const overrides = {
  "cleanup-distance-requests": { paused: true },
  "purge-run-history": { schedule: "15 4 * * 1" },
};

describe("the dead-man of every task", () => {
  let run: StackRun;
  // The expectation comes from the one rule for catalog + overrides, not from a list.
  const expected = resolveJobs(tasks, { overrides }).jobs.filter((job) => !job.paused);
  beforeAll(async () => {
    run = await runStack(baseConfig(fakeBundle(), { taskOverrides: overrides }));
  });

  const checkOf = (task: string): Inputs => run.one(CHECK, `dead-man-${task}`).inputs;
  const policyOf = (task: string): Inputs => run.one(POLICY, `dead-man-${task}`).inputs;

  it("when built, then every task the stack does not pause has exactly one check and one alert, daily and weekly included, and the paused one none", () => {
    const names = expected.map((job) => job.name).sort();
    expect(names).toContain("archive-old-orders"); // weekly in the catalog
    expect(names).toContain("purge-run-history"); // weekly by the override
    expect(names).toContain("generate-daily-stats");
    expect(names).not.toContain("cleanup-distance-requests");
    expect(
      run
        .of(COMPONENT)
        .map((component) => component.name)
        .sort(),
    ).toEqual(names);
    expect(
      run
        .of(CHECK)
        .map((check) => check.name)
        .sort(),
    ).toEqual(names.map((name) => `dead-man-${name}`));
    expect(
      run
        .of(POLICY)
        .map((policy) => policy.name)
        .filter((name) => name.startsWith("dead-man-"))
        .sort(),
    ).toEqual(names.map((name) => `dead-man-${name}`));
  });

  it("when built, then each check GETs its task's /health over HTTPS at the function's host, as the Monitoring service agent, and passes on 200 with not overdue only", () => {
    const host = new URL(String(run.values.functionUrl)).host;
    expect(host).toBe(`scheduled-tasks-${PROJECT_NUMBER}.${REGION}.run.app`);
    for (const job of expected) {
      const check = checkOf(job.name);
      expect(check.monitoredResource).toEqual({ type: "uptime_url", labels: { project_id: PROJECT, host } });
      expect(check.httpCheck).toMatchObject({
        requestMethod: "GET",
        path: `/health?task=${job.name}`,
        port: 443,
        useSsl: true,
        validateSsl: true,
        acceptedResponseStatusCodes: [{ statusValue: 200 }],
        serviceAgentAuthentication: { type: "OIDC_TOKEN" },
      });
      expect(check.httpCheck.authInfo).toBeUndefined();
      expect(check.contentMatchers).toEqual([{ content: DEAD_MAN_CONTENT, matcher: "CONTAINS_STRING" }]);
      // At least three checker locations, as the API requires: "USA" holds three.
      expect(check.selectedRegions).toEqual(["USA"]);
    }
  });

  it("when a task is healthy or overdue, then the function's serialized entry passes or fails the check's content matcher", () => {
    const daily = expected.find((job) => job.name === "generate-daily-stats")!;
    const now = new Date("2030-03-04T12:00:00Z");
    const healthy = taskHealth(daily, undefined, { historyBegins: null, runs: [] }, now);
    const overdue = taskHealth(
      daily,
      undefined,
      { historyBegins: new Date("2030-02-01T00:00:00Z"), runs: [] },
      now,
    );
    expect(overdue.overdue).toBe(true);
    // As the router sends it: JSON.stringify (functions/gcp/router.ts `send`).
    expect(JSON.stringify(healthy)).toContain(DEAD_MAN_CONTENT);
    expect(JSON.stringify(overdue)).not.toContain(DEAD_MAN_CONTENT);
  });

  it("when built, then each check's period and each alert's wait follow the task's schedule: every 5 minutes at the most often, every 15 for hourly, daily and weekly tasks", () => {
    const cadence = new Date("2030-01-06T00:00:00Z");
    const seen = new Map<string, number>();
    for (const job of expected) {
      const timing = deadManTiming(longestIntervalSeconds(job, cadence));
      expect(checkOf(job.name).period, job.name).toBe(`${timing.periodSeconds}s`);
      expect(policyOf(job.name).conditions[0].conditionThreshold.duration, job.name).toBe(
        `${timing.durationSeconds}s`,
      );
      seen.set(job.name, timing.periodSeconds);
    }
    expect(seen.get("auto-cancel-unconfirmed-orders")).toBe(300); // every minute
    expect(seen.get("driver-inactivity-check")).toBe(300); // every 5 minutes
    expect(seen.get("alert-failed-runs")).toBe(900); // every 15 minutes
    expect(seen.get("cleanup-expired-sessions")).toBe(900); // hourly
    expect(seen.get("generate-daily-stats")).toBe(900); // daily
    expect(seen.get("archive-old-orders")).toBe(900); // weekly
  });

  it("when the rule is asked, then it picks the longest allowed period within one interval, at least 5 minutes, and waits one more period", () => {
    const table: [number, number][] = [
      [60, 300],
      [300, 300],
      [599, 300],
      [600, 600],
      [899, 600],
      [900, 900],
      [86_400, 900],
      [604_800, 900],
    ];
    for (const [interval, period] of table) {
      expect(deadManTiming(interval), String(interval)).toEqual({
        periodSeconds: period,
        durationSeconds: period,
      });
    }
  });

  it("when built, then each alert names its task, watches only its own check's results from more than one location, and emails the alert channel", () => {
    for (const job of expected) {
      const policy = policyOf(job.name);
      expect(policy.displayName).toContain(job.name);
      expect(policy.notificationChannels).toEqual([`projects/${PROJECT}/notificationChannels/alert-email`]);
      expect(policy.documentation.content).toContain(job.name);
      expect(policy.conditions).toHaveLength(1);
      const condition = policy.conditions[0].conditionThreshold;
      expect(condition.filter).toBe(
        `metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND resource.type="uptime_url" AND metric.label.check_id="dead-man-${job.name}-id"`,
      );
      expect(condition).toMatchObject({ comparison: "COMPARISON_GT", thresholdValue: 1 });
      expect(condition.aggregations).toEqual([
        expect.objectContaining({
          perSeriesAligner: "ALIGN_NEXT_OLDER",
          crossSeriesReducer: "REDUCE_COUNT_FALSE",
        }),
      ]);
    }
  });

  it("when built, then no dead-man reads Cloud Scheduler's records or the function's logs", () => {
    const deadMan = [
      ...run.of(CHECK),
      ...run.of(POLICY).filter((policy) => policy.name.startsWith("dead-man-")),
    ];
    expect(deadMan.length).toBe(2 * expected.length);
    for (const resource of deadMan) {
      const text = JSON.stringify(resource.inputs);
      expect(text, resource.name).not.toMatch(/cloud_scheduler_job|cloudscheduler|logging\.googleapis\.com/);
    }
  });

  it("when built, then the Monitoring service agent may invoke this service alone, and the function accepts its token as the check sends it", async () => {
    expect(run.one(SERVICE_MEMBER, "monitoring-invoker").inputs).toEqual(
      expect.objectContaining({
        project: PROJECT,
        location: REGION,
        name: run.values.serviceName,
        role: "roles/run.invoker",
        member: `serviceAccount:${AGENT}`,
      }),
    );
    expect(run.values.monitoringAgent).toBe(AGENT);
    const env = run.one(FUNCTION).inputs.serviceConfig.environmentVariables as Record<string, string>;
    const authenticator = createAuthenticator(parseAuthEnv(env).config!);
    // What Cloud Run forwards once IAM has verified the agent's token; its audience is the checked
    // origin (scheme and host), which is the function's URL.
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: "https://accounts.google.com",
      aud: `https://${String(checkOf("generate-daily-stats").monitoredResource.labels.host)}`,
      email: AGENT,
      email_verified: true,
      sub: "2",
      iat: now,
      exp: now + 3600,
    };
    const token = `Bearer ${part({ alg: "RS256", kid: "google", typ: "JWT" })}.${part(claims)}.${signatureRemovedMarker}`;
    await expect(authenticator.authenticate(token)).resolves.toMatchObject({ email: AGENT });
  });

  it("when built, then the stack outputs list each task's check id, path and period", () => {
    expect(run.values.deadManChecks).toEqual(
      expected.map((job) => ({
        task: job.name,
        uptimeCheckId: `dead-man-${job.name}-id`,
        path: `/health?task=${job.name}`,
        periodSeconds: Number(String(checkOf(job.name).period).replace("s", "")),
      })),
    );
  });
});

describe("the dead-man's configuration", () => {
  it("when scheduled-jobs:deadMan is false, then there is no check, no grant for the agent, the agent is not accepted, and ingress stays internal", async () => {
    const run = await runStack(baseConfig(fakeBundle(), { deadMan: false }));
    expect(run.of(CHECK)).toEqual([]);
    expect(run.of(COMPONENT)).toEqual([]);
    // The function's own service; the http targets' grants are test/infra/http-targets.test.ts's.
    const functionMembers = run.of(SERVICE_MEMBER).filter((member) => member.inputs.name !== "app-backend");
    expect(functionMembers.map((member) => member.name)).toEqual(["scheduler-invoker"]);
    const fn = run.one(FUNCTION).inputs.serviceConfig;
    expect(fn.environmentVariables.AUTH_ALLOWED_EMAILS).toBe(run.values.schedulerServiceAccount);
    expect(fn.ingressSettings).toBe("ALLOW_INTERNAL_ONLY");
    expect(run.values.deadManChecks).toEqual([]);
    expect(run.values.monitoringAgent).toBeUndefined();
  });

  it("when the dead-man is on and ingress is set to internal, then the config is refused naming both ways out", () => {
    const bundle = fakeBundle();
    for (const ingress of ["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"]) {
      const attempt = () => resolveConfig(baseConfig(bundle, { function: { ingress } }));
      expect(attempt).toThrow(StackConfigError);
      expect(attempt).toThrow(/refuses the dead-man's uptime checkers.*ALLOW_ALL.*deadMan to false/);
    }
    expect(() => resolveConfig(baseConfig(bundle, { deadMan: "sometimes" }))).toThrow(
      /scheduled-jobs:deadMan must be true or false/,
    );
  });

  it("when a task is run by pg_cron, then it is watched too, and a task paused in the catalog is not", () => {
    const catalog: TaskDefinition[] = tasks.map((task) =>
      task.name === "generate-daily-stats"
        ? { ...task, runner: "pg_cron" }
        : task.name === "update-restaurant-ratings"
          ? { ...task, paused: true }
          : task,
    );
    const config = resolveConfig(baseConfig(fakeBundle()), catalog);
    const watched = config.deadManJobs.map((job) => job.name);
    expect(config.jobs.map((job) => job.name)).not.toContain("generate-daily-stats");
    expect(watched).toContain("generate-daily-stats");
    expect(watched).not.toContain("update-restaurant-ratings");
    expect(config.deadManJobs.find((job) => job.name === "generate-daily-stats")?.intervalSeconds).toBe(
      86_400,
    );
  });
});
