/**
 * The deploy path as far as this machine allows: the program started the way Pulumi's Node.js
 * language host starts it (node with Pulumi.yaml's nodeargs, @pulumi/pulumi's own `cmd/run` entry,
 * the host's arguments, the stack's config in the host's environment variables), talking gRPC to a
 * stub engine and resource monitor that answer like a preview. It must register exactly what the
 * program registers under the mocks that test/infra/stack.test.ts checks as policy, so those checks
 * hold for what `pulumi preview` would send the engine.
 *
 * Not covered (needs a real `pulumi up`): the engine itself, the gcp provider plugin, Google's APIs.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { runnerOf, tasks } from "../../functions/core/catalog.js";
import type { InvokeAnswers, WireRegistration } from "./harness.js";
import { fakeBundle, PROJECT_NUMBER, previewEntryUnderMocks } from "./harness.js";
import type { Expected, ProgramRun } from "./language-host.js";
import { occurrences, previewProgram, programProblems, splitNodeArgs } from "./language-host.js";
import type { RunConfig } from "./stack-file.js";
import { StackFile } from "./stack-file.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const PROJECT_YAML = readFileSync(join(ROOT, "Pulumi.yaml"), "utf8");
const project = parseYaml(PROJECT_YAML) as {
  name: string;
  main: string;
  runtime: { options: { nodeargs: string } };
};
const STACK = "dev";
const SENDGRID_KEY = `SG.langhost-${Math.random().toString(36).slice(2)}`;
// Pulumi's wire markers: a secret is {[specialSigKey]: specialSecretSig, value}, an unknown a string.
const {
  specialSigKey: SECRET_SIG,
  specialSecretSig: SECRET_VALUE_SIG,
  unknownValue: UNKNOWN,
} = pulumi.runtime;
/** A run takes 2 to 4 s here; one that errors outside infra/errors.ts can take far longer to exit. */
const TIMEOUT_MS = 25_000;

/** The one function the program calls; the same answer under the mocks and from the stub. */
const invokes: InvokeAnswers = {
  "gcp:organizations/getProject:getProject": (args) => ({
    projectId: args.projectId,
    number: PROJECT_NUMBER,
    name: args.projectId,
  }),
};

/**
 * The dev stack as README's first deployment leaves it: Pulumi.dev.yaml, the SendGrid key set with
 * `pulumi config set --secret` (step 2), and (a test's only change) the bundle directory set with
 * `--path`, since a test does not run `npm run build`.
 */
function devStack(sourceDir: string, options: { withKey?: boolean } = {}): StackFile {
  const file = StackFile.read(join(ROOT, `Pulumi.${STACK}.yaml`), project.name);
  if (options.withKey !== false) file.set("scheduled-jobs:sendgridApiKey", SENDGRID_KEY, { secret: true });
  return file.set("scheduled-jobs:function.sourceDir", sourceDir, { path: true });
}

function preview(config: RunConfig, projectYaml?: string): Promise<ProgramRun> {
  return previewProgram({
    root: ROOT,
    stack: STACK,
    config,
    invokes,
    timeoutMs: TIMEOUT_MS,
    ...(projectYaml !== undefined ? { projectYaml } : {}),
  });
}

/**
 * Pulumi.yaml with one line changed, or undefined when that line is not there (then the test that
 * needs the copy fails, and the others still report on the real file).
 */
function editedProjectYaml(pattern: RegExp, replacement: string): string | undefined {
  return pattern.test(PROJECT_YAML) ? PROJECT_YAML.replace(pattern, replacement) : undefined;
}

/** A run against an edited copy of Pulumi.yaml; undefined when the edit did not apply. */
async function previewEdited(
  config: RunConfig,
  pattern: RegExp,
  replacement: string,
): Promise<ProgramRun | undefined> {
  const edited = editedProjectYaml(pattern, replacement);
  return edited === undefined ? undefined : preview(config, edited);
}

/** The run, asserting the edit of Pulumi.yaml it needed applied. */
function edited(run: ProgramRun | undefined): ProgramRun {
  expect(run, "the line this test edits is no longer in Pulumi.yaml").toBeDefined();
  return run!;
}

/**
 * Everything that keeps a run from being the deployment the mocks describe; empty when it is. The
 * tests below also show it is not empty when Pulumi.yaml or the program is broken.
 */
function problemsWith(run: ProgramRun, expected: Expected): string[] {
  return programProblems(run, expected, { project: project.name, stack: STACK, timeoutMs: TIMEOUT_MS });
}

function errorLog(run: ProgramRun): string {
  return run.logs
    .filter((entry) => entry.severity === "error")
    .map((entry) => entry.message)
    .join("\n");
}

describe("the program started by Pulumi's Node.js language host, previewed against a stub engine", () => {
  const stackFile = devStack(fakeBundle());
  const config = stackFile.runConfig();
  let expected: Expected;
  // The mocks load the same entry, so a program that throws fails there too; kept, not thrown, so
  // the first test still reports what the language host's run did.
  let mocksFailure: Error | undefined;
  let run: ProgramRun;
  let badOverride: ProgramRun;
  let missingBundle: ProgramRun;
  let missingKey: ProgramRun;
  let withoutNodeargs: ProgramRun | undefined;
  let mainElsewhere: ProgramRun | undefined;
  let mainMissing: ProgramRun | undefined;

  beforeAll(async () => {
    try {
      expected = await previewEntryUnderMocks(config.config, config.secretKeys, invokes, STACK);
    } catch (error) {
      mocksFailure = error as Error;
      expected = { registrations: [], exports: [] };
    }
    const noBundle = mkdtempSync(join(tmpdir(), "sj-no-bundle-"));
    // Two at a time: the machine has two cores, and each run loads the gcp SDK.
    [run, badOverride] = await Promise.all([
      preview(config),
      preview(
        devStack(fakeBundle())
          .set("scheduled-jobs:taskOverrides.archive-old-orders.schedule", "0 4 * *", { path: true })
          .runConfig(),
      ),
    ]);
    [missingBundle, missingKey] = await Promise.all([
      preview(devStack(noBundle).runConfig()),
      preview(devStack(fakeBundle(), { withKey: false }).runConfig()),
    ]);
    [withoutNodeargs, mainElsewhere, mainMissing] = await Promise.all([
      previewEdited(config, /^\s+nodeargs: .*\n/m, ""),
      previewEdited(config, /^main: .*$/m, "main: infra/gcp/stack.ts"),
      previewEdited(config, /^main: .*$/m, "main: infra/program.ts"),
    ]);
  }, 120_000);

  it("when started as Pulumi.yaml says, then it exits 0 and registers, under one stack, the resources and inputs the mocks see", () => {
    expect(problemsWith(run, expected)).toEqual([]);
    expect(mocksFailure).toBeUndefined();
    // Not two empty lists: one Cloud Scheduler job per task Cloud Scheduler runs, and the rest.
    const jobs = expected.registrations.filter(
      (registration) => registration.type === "gcp:cloudscheduler/job:Job",
    );
    expect(jobs.map((job) => job.name).sort()).toEqual(
      tasks
        .filter((task) => runnerOf(task) === "cloud")
        .map((task) => task.name)
        .sort(),
    );
    expect(run.registrations.length).toBe(expected.registrations.length + 1);
    // The one Google call a preview makes (docs/deploy.md: Resource Manager must be on before it).
    expect(run.invokes).toEqual([
      { token: "gcp:organizations/getProject:getProject", args: { projectId: config.config["gcp:project"] } },
    ]);
    expect(run.outputs.get(run.registrations[0]!.urn)?.functionUrl).toBe(
      `https://scheduled-tasks-${PROJECT_NUMBER}.${config.config["gcp:region"]}.run.app`,
    );
  });

  it("when started, then node ran Pulumi.yaml's nodeargs and @pulumi/pulumi's cmd/run on Pulumi.yaml's main", () => {
    const nodeargs = splitNodeArgs(project.runtime.options.nodeargs);
    expect(nodeargs.length).toBeGreaterThan(0);
    expect(run.command.slice(0, nodeargs.length)).toEqual(nodeargs);
    expect(run.command[nodeargs.length]).toBe(join(ROOT, "node_modules/@pulumi/pulumi/cmd/run/index.js"));
    expect(run.command.at(-1)).toBe(basename(project.main));
    expect(run.command[run.command.indexOf("--pwd") + 1]).toBe(dirname(join(ROOT, project.main)));
    expect(run.env.PULUMI_NODEJS_TYPESCRIPT).toBeUndefined();
    // The SDK reports what it ran to the engine.
    expect(run.logs.map((entry) => entry.message)).toContain(
      `Running program '${join(ROOT, project.main)}' in pwd '${dirname(join(ROOT, project.main))}' w/ args: `,
    );
  });

  it("when started, then the stack's config reached it as the engine passes Pulumi.dev.yaml: strings, objects as JSON, the key as a secret", () => {
    const passed = JSON.parse(run.env.PULUMI_CONFIG!) as Record<string, unknown>;
    expect(Object.values(passed).every((value) => typeof value === "string")).toBe(true);
    expect(passed["scheduled-jobs:config:absenceAlertMaxIntervalMinutes"]).toBe("60");
    expect(JSON.parse(passed["scheduled-jobs:config:database"] as string)).toEqual(
      stackFile.get("scheduled-jobs:database"),
    );
    expect(JSON.parse(run.env.PULUMI_CONFIG_SECRET_KEYS!)).toEqual(["scheduled-jobs:sendgridApiKey"]);

    // What the program built from it: Pulumi.dev.yaml's values, read by the program, not by this test.
    const inputsOf = (type: string, name: string) =>
      run.registrations.find((registration) => registration.type === type && registration.name === name)!
        .inputs;
    const fn = stackFile.get("scheduled-jobs:function") as { maxInstances: number; ingress: string };
    const database = stackFile.get("scheduled-jobs:database") as {
      instanceName: string;
      databaseVersion: string;
    };
    const overrides = stackFile.get("scheduled-jobs:taskOverrides") as Record<string, { schedule?: string }>;
    const functionInputs = inputsOf("gcp:cloudfunctionsv2/function:Function", "scheduled-tasks");
    expect(functionInputs.project).toBe(stackFile.get("gcp:project"));
    expect(functionInputs.location).toBe(stackFile.get("gcp:region"));
    expect(functionInputs.serviceConfig.maxInstanceCount).toBe(fn.maxInstances);
    expect(functionInputs.serviceConfig.ingressSettings).toBe(fn.ingress);
    expect(functionInputs.serviceConfig.environmentVariables.MAIL_FROM).toBe(
      stackFile.get("scheduled-jobs:mailFrom"),
    );
    const instance = inputsOf("gcp:sql/databaseInstance:DatabaseInstance", "database");
    expect([instance.name, instance.databaseVersion]).toEqual([
      database.instanceName,
      database.databaseVersion,
    ]);
    expect(inputsOf("gcp:cloudscheduler/job:Job", "archive-old-orders").schedule).toBe(
      overrides["archive-old-orders"]?.schedule,
    );
    expect(
      inputsOf("gcp:monitoring/notificationChannel:NotificationChannel", "alert-email").labels.email_address,
    ).toBe(stackFile.get("scheduled-jobs:alertEmail"));
  });

  it("when the SendGrid key is set as a secret, then it reaches the engine only inside a secret, and never the console or a log above debug", () => {
    const found = run.registrations.flatMap((registration) => occurrences(registration.inputs, SENDGRID_KEY));
    expect(found).toEqual([{ secret: true }]);
    expect(one(run, "gcp:secretmanager/secretVersion:SecretVersion").secretData).toEqual({
      [SECRET_SIG]: SECRET_VALUE_SIG,
      value: SENDGRID_KEY,
    });
    // The SDK's debug lines echo each RegisterResource answer, the key included; the engine replaces
    // secret config values with "[secret]" in everything it emits (pkg/engine/events.go,
    // makeEventEmitter), which this stub does not imitate.
    const shown = run.logs.filter((entry) => entry.severity !== "debug").map((entry) => entry.message);
    for (const text of [...shown, run.stdout, run.stderr]) expect(text).not.toContain(SENDGRID_KEY);
    // The function's environment names the secret's version, which a preview does not know yet.
    const environment = one(run, "gcp:cloudfunctionsv2/function:Function").serviceConfig.environmentVariables;
    expect(environment.SENDGRID_API_KEY_SECRET).toBe(UNKNOWN);
  });

  it.each([
    [
      "an override in the stack's config is bad",
      () => badOverride,
      'invalid stack configuration:\n  - task "archive-old-orders" (with scheduled-jobs:taskOverrides.archive-old-orders): schedule "0 4 * *" must have exactly five fields (minute hour day-of-month month day-of-week), as Cloud Scheduler\'s unix-cron takes; it has 4',
    ],
    [
      "the function's bundle is missing",
      () => missingBundle,
      expect.stringMatching(/^the function's bundle is missing: .* Run `npm run build` before `pulumi up`/),
    ],
    [
      "the SendGrid key was never set",
      () => missingKey,
      expect.stringContaining("`pulumi config set --secret scheduled-jobs:sendgridApiKey`"),
    ],
  ])(
    "when %s, then the program exits non-zero before registering a resource, its message alone in the engine's log",
    (_case, failed, message) => {
      // 32: the SDK logged the error to the engine itself, so the host adds nothing (cmd/run/index.js).
      expect(failed().exitCode).toBe(32);
      // The message alone: no "Running program ... failed with an unhandled exception", no stack.
      expect(
        failed()
          .logs.filter((entry) => entry.severity === "error")
          .map((entry) => entry.message),
      ).toEqual([message]);
      expect(failed().registrations.map((registration) => registration.type)).toEqual([
        "pulumi:pulumi:Stack",
      ]);
      // ... which the check of the first test reports: it fails when the program throws.
      expect(problemsWith(failed(), expected)).toContain("the program exited with 32");
    },
  );

  it("when Pulumi.yaml loses its nodeargs, then the program cannot load and the check fails", () => {
    const run = edited(withoutNodeargs);
    expect(run.command[0]).toBe(join(ROOT, "node_modules/@pulumi/pulumi/cmd/run/index.js"));
    expect(errorLog(run)).toMatch(/Unknown file extension "\.ts" for .*infra\/index\.ts/);
    expect(problemsWith(run, expected)).toContain("the program exited with 32");
  });

  it("when Pulumi.yaml's main points elsewhere, then the check fails: another module registers other things, a missing one never starts", () => {
    const elsewhere = edited(mainElsewhere);
    expect(elsewhere.command.at(-1)).toBe("stack.ts");
    expect(elsewhere.exitCode).toBe(0);
    expect(problemsWith(elsewhere, expected)).toContain(
      "not registered: gcp:cloudfunctionsv2/function:Function::scheduled-tasks (parent stack)",
    );
    expect(problemsWith(edited(mainMissing), expected)).toEqual([
      `Pulumi would not start the program: project 'main' could not be read: ${join(ROOT, "infra/program.ts")}`,
    ]);
  });
});

function one(run: ProgramRun, type: string): WireRegistration["inputs"] {
  const found = run.registrations.filter((registration) => registration.type === type);
  expect(found).toHaveLength(1);
  return found[0]!.inputs;
}
