/**
 * The AWS stack on the deploy path as far as this machine allows: Pulumi.aws-dev.yaml's program
 * started the way Pulumi's Node.js language host starts it, against the stub engine of
 * ../language-host.ts, must register exactly what the entry registers under mocks (which
 * stack.test.ts checks as policy) and exit 0; a bad config must exit non-zero with its message
 * alone in the engine's log.
 *
 * Not covered (needs a real `pulumi up` and an account): the engine, the aws provider plugin, AWS's APIs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { runnerOf, tasks } from "../../../functions/core/catalog.js";
import { previewEntryUnderMocks } from "../harness.js";
import type { Expected, ProgramRun } from "../language-host.js";
import { occurrences, previewProgram, programProblems } from "../language-host.js";
import type { RunConfig } from "../stack-file.js";
import { StackFile } from "../stack-file.js";
import { awsInvokes, fakeLambdaBundle } from "./harness.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url)).replace(/\/$/, "");
const project = parseYaml(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as { name: string };
const STACK = "aws-dev";
const SENDGRID_KEY = `SG.aws-langhost-${Math.random().toString(36).slice(2)}`;
/** A run takes a few seconds here; the AWS SDK is larger than Google's. */
const TIMEOUT_MS = 40_000;

/** Pulumi.aws-dev.yaml after `pulumi config set --secret scheduled-jobs:sendgridApiKey`, the bundle's folder set by path. */
function awsDevStack(sourceDir: string): StackFile {
  return StackFile.read(join(ROOT, `Pulumi.${STACK}.yaml`), project.name)
    .set("scheduled-jobs:sendgridApiKey", SENDGRID_KEY, { secret: true })
    .set("scheduled-jobs:lambda.sourceDir", sourceDir, { path: true });
}

function preview(config: RunConfig): Promise<ProgramRun> {
  return previewProgram({ root: ROOT, stack: STACK, config, invokes: awsInvokes, timeoutMs: TIMEOUT_MS });
}

const errors = (run: ProgramRun): string[] =>
  run.logs.filter((entry) => entry.severity === "error").map((entry) => entry.message);

describe("the aws-dev stack started by Pulumi's Node.js language host, previewed against a stub engine", () => {
  const config = awsDevStack(fakeLambdaBundle()).runConfig();
  let expected: Expected;
  let mocksFailure: Error | undefined;
  let run: ProgramRun;
  let bothDays: ProgramRun;
  let otherCloud: ProgramRun;

  beforeAll(async () => {
    try {
      expected = await previewEntryUnderMocks(config.config, config.secretKeys, awsInvokes, STACK);
    } catch (error) {
      mocksFailure = error as Error;
      expected = { registrations: [], exports: [] };
    }
    // Two at a time: the machine has two cores, and each run loads the aws SDK.
    [run, bothDays] = await Promise.all([
      preview(config),
      preview(
        awsDevStack(fakeLambdaBundle())
          .set("scheduled-jobs:taskOverrides.archive-old-orders.schedule", "0 4 1 * 0", { path: true })
          .runConfig(),
      ),
    ]);
    otherCloud = await preview(
      awsDevStack(fakeLambdaBundle()).set("scheduled-jobs:cloud", "azure").runConfig(),
    );
  }, 180_000);

  it("when started as Pulumi.yaml says, then it exits 0 and registers, under one stack, the AWS resources and inputs the mocks see", () => {
    expect(mocksFailure).toBeUndefined();
    expect(
      programProblems(run, expected, { project: project.name, stack: STACK, timeoutMs: TIMEOUT_MS }),
    ).toEqual([]);
    const schedules = expected.registrations.filter(
      (registration) => registration.type === "aws:scheduler/schedule:Schedule",
    );
    expect(schedules.map((schedule) => schedule.name).sort()).toEqual(
      tasks
        .filter((task) => runnerOf(task) === "cloud")
        .map((task) => task.name)
        .sort(),
    );
    expect(run.registrations.some((registration) => registration.type.startsWith("gcp:"))).toBe(false);
    expect(run.registrations.length).toBe(expected.registrations.length + 1);
  });

  it("when the SendGrid key is set as a secret, then it reaches the engine only inside a secret, and never the console", () => {
    const found = run.registrations.flatMap((registration) => occurrences(registration.inputs, SENDGRID_KEY));
    expect(found).toEqual([{ secret: true }]);
    const shown = run.logs.filter((entry) => entry.severity !== "debug").map((entry) => entry.message);
    for (const text of [...shown, run.stdout, run.stderr]) expect(text).not.toContain(SENDGRID_KEY);
  });

  it.each([
    [
      "a schedule AWS cannot express",
      () => bothDays,
      'invalid stack configuration:\n  - task "archive-old-orders" (with scheduled-jobs:taskOverrides.archive-old-orders): schedule "0 4 1 * 0" cannot run on EventBridge Scheduler: it restricts both the day of the month ("1") and the day of the week ("0"), which unix-cron reads as either one matching; AWS cron restricts one of the two only (the other is "?"): restrict one, or split the task\'s schedule in two',
    ],
    [
      "a cloud the program does not know",
      () => otherCloud,
      'invalid stack configuration:\n  - scheduled-jobs:cloud "azure" must be one of gcp, aws (gcp when unset)',
    ],
  ])(
    "when the stack has %s, then the program exits non-zero before registering a resource, its message alone",
    (_case, failed, message) => {
      expect(failed().exitCode).toBe(32);
      expect(errors(failed())).toEqual([message]);
      expect(failed().registrations.map((registration) => registration.type)).toEqual([
        "pulumi:pulumi:Stack",
      ]);
    },
  );
});
