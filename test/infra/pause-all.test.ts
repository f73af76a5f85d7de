/**
 * `scheduled-jobs:pauseAll: true` under mocks: every Cloud Scheduler job is created paused, no
 * task has a dead-man check (nothing is due), and the function is told every job is paused, so
 * /health says paused rather than overdue. The first deploy sets it before `pulumi up` and removes
 * it after `npm run migrate` (docs/deploy.md).
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config/function-config.js";
import { baseConfig, fakeBundle, runStack } from "./harness.js";

const JOB = "gcp:cloudscheduler/job:Job";
const CHECK = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig";
const FUNCTION = "gcp:cloudfunctionsv2/function:Function";

describe("pauseAll on a Google stack", () => {
  it("when it is true, then every job is created paused, no dead-man checks, and the function is told they are paused", async () => {
    const run = await runStack(baseConfig(fakeBundle(), { pauseAll: true }));
    const jobs = run.of(JOB);
    expect(jobs.length).toBeGreaterThan(5);
    for (const job of jobs) expect(job.inputs.paused, job.name).toBe(true);
    expect(run.of(CHECK)).toEqual([]);
    const env = run.one(FUNCTION, "scheduled-tasks").inputs.serviceConfig.environmentVariables as Record<
      string,
      string
    >;
    const parsed = parseConfig({ ...env, DB_USER: "runtime@p.iam" });
    expect(parsed.problems).toEqual([]);
    expect(parsed.config!.jobs.every((job) => job.paused)).toBe(true);
  });

  it("when it is not a boolean, then the stack refuses to build, naming the key", async () => {
    await expect(runStack(baseConfig(fakeBundle(), { pauseAll: "soon" }))).rejects.toThrow(
      /scheduled-jobs:pauseAll must be true or false/,
    );
  });
});
