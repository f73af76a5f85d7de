/**
 * The Pulumi program under mocks: what `pulumi up` would create from the catalog and a stack's
 * config, checked as policies (nothing public, least privilege, no secret in plain sight) and as
 * contracts with the function (its environment, the jobs' requests).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../functions/gcp/auth.js";
import { signatureRemovedMarker } from "../../functions/gcp/google-identities.js";
import { runnerOf, tasks } from "../../functions/core/catalog.js";
import { parseAuthEnv, parseConfig, parseEmailEnv } from "../../functions/core/config/function-config.js";
import { environment, variables } from "../../functions/core/config/environment.js";
import type { VariableName } from "../../functions/core/config/environment.js";
import type { Inputs, StackRun } from "./harness.js";
import {
  baseConfig,
  fakeBundle,
  PROJECT,
  PROJECT_NUMBER,
  REGION,
  runStack,
  SENDGRID_KEY,
} from "./harness.js";

const cloudTasks = tasks.filter((task) => runnerOf(task) === "cloud");
const JOB = "gcp:cloudscheduler/job:Job";
const FUNCTION = "gcp:cloudfunctionsv2/function:Function";
const PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember";
const SERVICE_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember";
const SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const MONITORING_AGENT = `service-${PROJECT_NUMBER}@gcp-sa-monitoring-notification.iam.gserviceaccount.com`;

/** Every path at which a string containing `needle` appears, marking those inside a Pulumi secret. */
function occurrences(
  value: unknown,
  needle: string,
  path = "",
  inSecret = false,
): { path: string; secret: boolean }[] {
  if (typeof value === "string") return value.includes(needle) ? [{ path, secret: inSecret }] : [];
  if (Array.isArray(value))
    return value.flatMap((item, index) => occurrences(item, needle, `${path}[${index}]`, inSecret));
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const secret = inSecret || SECRET_SIG in record;
    return Object.entries(record).flatMap(([key, item]) =>
      occurrences(item, needle, `${path}.${key}`, secret),
    );
  }
  return [];
}

function inputsOf(run: StackRun, type: string, name: string): Inputs {
  return run.one(type, name).inputs;
}

describe("the stack built from the catalog", () => {
  let run: StackRun;
  let logged = "";
  beforeAll(async () => {
    const write = process.stdout.write.bind(process.stdout);
    const writeErr = process.stderr.write.bind(process.stderr);
    const capture = (chunk: unknown): boolean => {
      logged += String(chunk);
      return true;
    };
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
    try {
      run = await runStack(baseConfig(fakeBundle()));
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
    }
  });

  it("when built, then there is exactly one Cloud Scheduler job per cloud-run catalog task, named after it", () => {
    const jobs = run.of(JOB);
    expect(jobs.map((job) => job.inputs.name).sort()).toEqual(cloudTasks.map((task) => task.name).sort());
    expect(jobs).toHaveLength(cloudTasks.length);
  });

  it("when built, then each job carries its task's schedule, time zone, deadline, retry policy and paused flag", () => {
    for (const task of cloudTasks) {
      const job = inputsOf(run, JOB, task.name);
      expect(job.schedule, task.name).toBe(task.schedule);
      expect(job.timeZone, task.name).toBe("timeZone" in task ? task.timeZone : "UTC");
      expect(job.attemptDeadline, task.name).toBe(`${task.timeoutSeconds}s`);
      expect(job.paused, task.name).toBe(task.paused);
      expect(job.region).toBe(REGION);
      expect(job.retryConfig, task.name).toEqual({
        retryCount: task.retry.retryCount,
        minBackoffDuration: `${task.retry.minBackoffSeconds}s`,
        maxBackoffDuration: `${task.retry.maxBackoffSeconds}s`,
        maxDoublings: task.retry.maxDoublings,
      });
    }
  });

  it('when built, then each job POSTs {"task": name} as JSON to the function URL with an OIDC token of the scheduler SA for that URL', () => {
    const url = run.values.functionUrl;
    expect(url).toBe(`https://scheduled-tasks-${PROJECT_NUMBER}.${REGION}.run.app`);
    for (const task of cloudTasks) {
      const target = inputsOf(run, JOB, task.name).httpTarget;
      expect(target.httpMethod).toBe("POST");
      expect(target.uri).toBe(url);
      expect(target.headers).toEqual({ "Content-Type": "application/json" });
      expect(JSON.parse(Buffer.from(target.body, "base64").toString("utf8"))).toEqual({ task: task.name });
      expect(target.oidcToken).toEqual({
        serviceAccountEmail: run.values.schedulerServiceAccount,
        audience: url,
      });
      expect(target.oauthToken).toBeUndefined();
    }
  });

  it("when built, then the function is gen2 nodejs22 with entry point scheduledTasks, built by its own build SA", () => {
    const fn = inputsOf(run, FUNCTION, "scheduled-tasks");
    expect(fn.buildConfig.runtime).toBe("nodejs22");
    expect(fn.buildConfig.entryPoint).toBe("scheduledTasks");
    expect(fn.buildConfig.serviceAccount).toBe(
      `projects/${PROJECT}/serviceAccounts/${String(run.values.buildServiceAccount)}`,
    );
    expect(fn.serviceConfig.serviceAccountEmail).toBe(run.values.runtimeServiceAccount);
    expect(fn.serviceConfig.maxInstanceRequestConcurrency).toBe(1);
    // The dead-man's uptime checkers call from the internet; IAM keeps the function private.
    expect(fn.serviceConfig.ingressSettings).toBe("ALLOW_ALL");
  });

  it("when built, then the function's timeout covers the longest job deadline", () => {
    const fn = inputsOf(run, FUNCTION, "scheduled-tasks");
    const longest = Math.max(
      ...run.of(JOB).map((job) => Number.parseInt(String(job.inputs.attemptDeadline), 10)),
    );
    expect(fn.serviceConfig.timeoutSeconds).toBeGreaterThanOrEqual(longest);
    expect(fn.serviceConfig.timeoutSeconds).toBeLessThanOrEqual(3600);
  });

  it("when built, then the function's environment is exactly the documented one, pointing at the stack's own resources", () => {
    const env = inputsOf(run, FUNCTION, "scheduled-tasks").serviceConfig.environmentVariables;
    expect(env).toEqual({
      NODE_ENV: "production",
      GOOGLE_CLOUD_PROJECT: PROJECT,
      AUTH_MODE: "cloud-run",
      AUTH_AUDIENCE: run.values.functionUrl,
      AUTH_ALLOWED_EMAILS: `${String(run.values.schedulerServiceAccount)},${MONITORING_AGENT}`,
      INSTANCE_CONNECTION_NAME: `${PROJECT}:${REGION}:sched-jobs-db`,
      DB_USER: `sched-jobs-runtime@${PROJECT}.iam`,
      DB_NAME: "delivery_app",
      SENDGRID_API_KEY_SECRET: `projects/${PROJECT_NUMBER}/secrets/sched-jobs-sendgrid-api-key/versions/1`,
      MAIL_FROM: "no-reply@example.com",
      OPS_EMAIL: "ops@example.com",
      HTTP_TARGETS: JSON.stringify({
        "app-backend": {
          url: "https://app-backend-123456789012.europe-west1.run.app",
          audience: "https://app-backend-123456789012.europe-west1.run.app",
          service: "app-backend",
          internal: false,
        },
      }),
    });
  });

  it("when built, then the function's environment holds exactly what the contract says the stack deploys, nothing secret, and the function accepts it", () => {
    const env = inputsOf(run, FUNCTION, "scheduled-tasks").serviceConfig.environmentVariables as Record<
      string,
      string
    >;
    // TASK_OVERRIDES and OPERATOR_EMAILS are deployed only when the stack overrides a schedule or
    // names an operator, and this one does neither; it names the catalog's http target.
    const documented = variables.filter(
      (variable) =>
        variable.deployed &&
        variable.deployedOn !== "aws" &&
        !["TASK_OVERRIDES", "OPERATOR_EMAILS"].includes(variable.name),
    );
    expect(Object.keys(env).sort()).toEqual(documented.map((variable) => variable.name).sort());
    for (const name of Object.keys(env)) expect(environment[name as VariableName].secret, name).toBe(false);
    expect(parseConfig(env).problems).toEqual([]);
  });

  it("when the function parses its deployed environment, then auth and email settings are complete and valid", () => {
    const env = inputsOf(run, FUNCTION, "scheduled-tasks").serviceConfig.environmentVariables as Record<
      string,
      string
    >;
    const auth = parseAuthEnv(env);
    expect(auth.problems).toEqual([]);
    expect(auth.config).toMatchObject({ mode: "cloud-run", audiences: [run.values.functionUrl] });
    expect(parseEmailEnv(env)).toMatchObject({ problems: [] });
    expect(parseEmailEnv(env).config).toMatchObject({
      key: { source: "secret-manager", secretVersion: env.SENDGRID_API_KEY_SECRET },
      mailFrom: "no-reply@example.com",
      opsEmail: "ops@example.com",
    });
  });

  it("when a job's token reaches the deployed function, then the function accepts it, and a token of any other account is refused", async () => {
    const env = inputsOf(run, FUNCTION, "scheduled-tasks").serviceConfig.environmentVariables as Record<
      string,
      string
    >;
    const authenticator = createAuthenticator(parseAuthEnv(env).config!);
    // What Cloud Run forwards once its IAM has verified the scheduler's token: the claims, unsigned.
    const forwarded = (audience: string, email: string): string => {
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: "https://accounts.google.com",
        aud: audience,
        email,
        email_verified: true,
        sub: "1",
        iat: now,
        exp: now + 3600,
      };
      return `Bearer ${part({ alg: "RS256", kid: "google", typ: "JWT" })}.${part(claims)}.${signatureRemovedMarker}`;
    };
    for (const job of run.of(JOB)) {
      const { audience, serviceAccountEmail } = job.inputs.httpTarget.oidcToken as Record<string, string>;
      await expect(
        authenticator.authenticate(forwarded(audience!, serviceAccountEmail!)),
      ).resolves.toMatchObject({
        email: serviceAccountEmail,
      });
    }
    await expect(
      authenticator.authenticate(
        forwarded(String(run.values.functionUrl), String(run.values.runtimeServiceAccount)),
      ),
    ).rejects.toThrow(/not allowed to call this function/);
  });

  describe("security review", () => {
    it("when any IAM resource is created, then none names allUsers or allAuthenticatedUsers", () => {
      const iam = run.resources.filter((resource) => /iam|Iam|IAM/.test(resource.type));
      expect(iam.length).toBeGreaterThan(0);
      for (const resource of run.resources) {
        const text = JSON.stringify(resource.inputs);
        expect(text, `${resource.type} ${resource.name}`).not.toMatch(/allUsers|allAuthenticatedUsers/);
      }
    });

    it("when invocation is granted, then only the scheduler SA and the Monitoring service agent get roles/run.invoker on this function's service, and the runtime account on the http target's service alone", () => {
      const invokers = run.resources.filter((resource) => /invoker/.test(String(resource.inputs.role ?? "")));
      expect(invokers.map((resource) => resource.type)).toEqual([
        SERVICE_MEMBER,
        SERVICE_MEMBER,
        SERVICE_MEMBER,
      ]);
      expect(run.one(SERVICE_MEMBER, "http-target-invoker-app-backend").inputs).toMatchObject({
        role: "roles/run.invoker",
        member: `serviceAccount:${String(run.values.runtimeServiceAccount)}`,
        name: "app-backend",
        location: REGION,
      });
      expect(run.one(SERVICE_MEMBER, "scheduler-invoker").inputs).toMatchObject({
        role: "roles/run.invoker",
        member: `serviceAccount:${String(run.values.schedulerServiceAccount)}`,
        name: run.values.serviceName,
        location: REGION,
      });
      expect(run.one(SERVICE_MEMBER, "monitoring-invoker").inputs).toMatchObject({
        role: "roles/run.invoker",
        member: `serviceAccount:${MONITORING_AGENT}`,
        name: run.values.serviceName,
        location: REGION,
      });
      // No function-level or project-level invoker roles (the latter would open every service).
      expect(
        run.resources.filter((resource) => resource.type.startsWith("gcp:cloudfunctionsv2/functionIam")),
      ).toEqual([]);
      expect(
        run.resources.filter((resource) => resource.type.startsWith("gcp:cloudrunv2/serviceIamBinding")),
      ).toEqual([]);
    });

    it("when the identities are created, then each holds exactly its roles and nothing else names them in IAM", () => {
      const grantsOf = (email: unknown) =>
        run.resources
          .filter((resource) => [PROJECT_MEMBER, SERVICE_MEMBER, SECRET_MEMBER].includes(resource.type))
          .filter((resource) => resource.inputs.member === `serviceAccount:${String(email)}`)
          .map((resource) =>
            resource.type === PROJECT_MEMBER
              ? `project ${String(resource.inputs.project)}: ${String(resource.inputs.role)}`
              : resource.type === SECRET_MEMBER
                ? `secret ${String(resource.inputs.secretId)}: ${String(resource.inputs.role)}`
                : `service ${String(resource.inputs.name)}: ${String(resource.inputs.role)}`,
          )
          .sort();
      expect(grantsOf(run.values.runtimeServiceAccount)).toEqual([
        `project ${PROJECT}: roles/cloudsql.client`,
        `project ${PROJECT}: roles/cloudsql.instanceUser`,
        `project ${PROJECT}: roles/logging.logWriter`,
        "secret sched-jobs-sendgrid-api-key: roles/secretmanager.secretAccessor",
        "service app-backend: roles/run.invoker",
      ]);
      expect(grantsOf(run.values.schedulerServiceAccount)).toEqual([
        `service ${String(run.values.serviceName)}: roles/run.invoker`,
      ]);
      expect(grantsOf(MONITORING_AGENT)).toEqual([
        `service ${String(run.values.serviceName)}: roles/run.invoker`,
      ]);
      expect(grantsOf(run.values.buildServiceAccount)).toEqual([
        `project ${PROJECT}: roles/artifactregistry.writer`,
        `project ${PROJECT}: roles/logging.logWriter`,
        `project ${PROJECT}: roles/storage.objectViewer`,
      ]);
      const everyGrant = run.resources.filter((resource) =>
        [PROJECT_MEMBER, SERVICE_MEMBER, SECRET_MEMBER].includes(resource.type),
      );
      expect(everyGrant).toHaveLength(10);
      // No primitive or admin roles anywhere.
      for (const grant of everyGrant) {
        expect(String(grant.inputs.role)).not.toMatch(/roles\/(owner|editor|viewer)$|admin/i);
      }
    });

    it("when the SendGrid key is configured, then its value appears in no resource's plain inputs, only as the secret version's secret data", () => {
      const found = run.resources.flatMap((resource) =>
        occurrences(resource.inputs, SENDGRID_KEY).map((hit) => ({
          ...hit,
          where: `${resource.type} ${resource.name}${hit.path}`,
        })),
      );
      expect(found.map((hit) => hit.where)).toEqual([
        "gcp:secretmanager/secretVersion:SecretVersion sendgrid-api-key.secretData.value",
      ]);
      expect(found.every((hit) => hit.secret)).toBe(true);
    });

    it("when the function is configured, then its environment holds the secret's version name, never the key, and no secret environment variables", () => {
      const fn = inputsOf(run, FUNCTION, "scheduled-tasks");
      const env = fn.serviceConfig.environmentVariables as Record<string, string>;
      expect(Object.keys(env)).not.toContain("SENDGRID_API_KEY");
      expect(Object.values(env).join("\n")).not.toContain(SENDGRID_KEY);
      expect(Object.values(env).join("\n")).not.toMatch(/SG\.|password|postgres:\/\//i);
      expect(fn.serviceConfig.secretEnvironmentVariables).toBeUndefined();
      expect(fn.buildConfig.environmentVariables).toBeUndefined();
    });

    it("when the stack is built, then neither its outputs nor anything it logged contain the key", () => {
      expect(JSON.stringify(run.values)).not.toContain(SENDGRID_KEY);
      expect(logged).not.toContain(SENDGRID_KEY);
    });

    it("when the source bucket is created, then public access is prevented and access is uniform", () => {
      const bucket = run.one("gcp:storage/bucket:Bucket").inputs;
      expect(bucket.publicAccessPrevention).toBe("enforced");
      expect(bucket.uniformBucketLevelAccess).toBe(true);
    });

    it("when a database instance is created, then it admits only IAM-authenticated connector traffic", () => {
      const instance = run.one("gcp:sql/databaseInstance:DatabaseInstance").inputs;
      expect(instance.settings.ipConfiguration.authorizedNetworks ?? []).toEqual([]);
      expect(instance.settings.ipConfiguration.sslMode).toBe("ENCRYPTED_ONLY");
      expect(instance.settings.connectorEnforcement).toBe("REQUIRED");
      expect(instance.settings.databaseFlags).toContainEqual({
        name: "cloudsql.iam_authentication",
        value: "on",
      });
      expect(run.of("gcp:sql/user:User").map((user) => user.inputs.type)).toEqual([
        "CLOUD_IAM_SERVICE_ACCOUNT",
      ]);
      expect(JSON.stringify(run.of("gcp:sql/user:User"))).not.toMatch(/password/i);
    });
  });

  it("when a database instance is created, then it is a small Enterprise-edition PostgreSQL with the runtime SA as IAM user and the database", () => {
    const instance = run.one("gcp:sql/databaseInstance:DatabaseInstance").inputs;
    expect(instance.databaseVersion).toMatch(/^POSTGRES_1[6-9]$/);
    expect(instance.settings.tier).toBe("db-f1-micro");
    expect(instance.settings.edition).toBe("ENTERPRISE");
    expect(run.one("gcp:sql/user:User").inputs).toMatchObject({
      name: `sched-jobs-runtime@${PROJECT}.iam`,
      instance: "sched-jobs-db",
    });
    expect(run.one("gcp:sql/database:Database").inputs).toMatchObject({
      name: "delivery_app",
      instance: "sched-jobs-db",
    });
  });

  it("when built, then the stack outputs name the URL, the jobs with their schedules, the identities and the secret", () => {
    expect(run.values).toMatchObject({
      functionUrl: `https://scheduled-tasks-${PROJECT_NUMBER}.${REGION}.run.app`,
      runtimeServiceAccount: `sched-jobs-runtime@${PROJECT}.iam.gserviceaccount.com`,
      schedulerServiceAccount: `sched-jobs-invoker@${PROJECT}.iam.gserviceaccount.com`,
      buildServiceAccount: `sched-jobs-build@${PROJECT}.iam.gserviceaccount.com`,
      sendgridSecret: `projects/${PROJECT_NUMBER}/secrets/sched-jobs-sendgrid-api-key`,
      databaseUser: `sched-jobs-runtime@${PROJECT}.iam`,
    });
    expect(run.values.jobs).toEqual(
      cloudTasks.map((task) => ({
        name: task.name,
        schedule: task.schedule,
        timeZone: "timeZone" in task ? task.timeZone : "UTC",
        paused: task.paused,
      })),
    );
  });

  it("when built, then failed runs alert by email, and each frequent unpaused task has an absence alert", () => {
    const channel = run.one("gcp:monitoring/notificationChannel:NotificationChannel").inputs;
    expect(channel).toMatchObject({ type: "email", labels: { email_address: "ops@example.com" } });
    const policies = run.of("gcp:monitoring/alertPolicy:AlertPolicy");
    const failure = run.one("gcp:monitoring/alertPolicy:AlertPolicy", "failed-runs").inputs;
    expect(failure.notificationChannels).toEqual([`projects/${PROJECT}/notificationChannels/alert-email`]);
    expect(failure.conditions.map((condition: Inputs) => condition.conditionThreshold.filter)).toEqual([
      `metric.type="logging.googleapis.com/user/sched-jobs-failed-runs" AND resource.type="cloud_run_revision"`,
      `metric.type="logging.googleapis.com/user/sched-jobs-failed-attempts" AND resource.type="cloud_scheduler_job"`,
    ]);
    const frequent = run.config.jobs
      .filter((job) => !job.paused && job.intervalSeconds <= 3600)
      .map((job) => job.name);
    expect(frequent).toContain("auto-cancel-unconfirmed-orders");
    expect(
      policies
        .map((policy) => policy.name)
        .filter((name) => name.startsWith("absent-"))
        .sort(),
    ).toEqual(frequent.map((task) => `absent-${task}`).sort());
    const everyMinute = run.one(
      "gcp:monitoring/alertPolicy:AlertPolicy",
      "absent-auto-cancel-unconfirmed-orders",
    ).inputs;
    const absent = everyMinute.conditions[0].conditionAbsent;
    expect(absent.duration).toBe("300s");
    expect(absent.filter).toContain('metric.label.task="auto-cancel-unconfirmed-orders"');
  });

  it("when the bundle changes, then the uploaded object's name changes, and only then", async () => {
    const objectName = (r: StackRun) => String(r.one("gcp:storage/bucketObject:BucketObject").inputs.name);
    const bundle = fakeBundle("exports.version = 1;\n");
    const first = await runStack(baseConfig(bundle));
    const same = await runStack(baseConfig(bundle));
    writeFileSync(join(bundle, "index.js"), "exports.version = 2;\n");
    const changed = await runStack(baseConfig(bundle));
    expect(objectName(first)).toMatch(/^scheduled-tasks-[0-9a-f]{16}\.zip$/);
    expect(objectName(same)).toBe(objectName(first));
    expect(objectName(changed)).not.toBe(objectName(first));
    expect(changed.one(FUNCTION).inputs).toMatchObject({
      buildConfig: { source: { storageSource: { object: objectName(changed) } } },
    });
  });

  it("when the bundle was never built, then the program fails saying to run npm run build", async () => {
    await expect(runStack(baseConfig("/nonexistent/dist/function"))).rejects.toThrow(/npm run build/);
  });
});

describe("stack values the function reads", () => {
  it("when mailFrom is an address the function refuses, then the program fails naming the key and the function's rule", async () => {
    await expect(runStack(baseConfig(fakeBundle(), { mailFrom: "<jobs@delivery.example>" }))).rejects.toThrow(
      'scheduled-jobs:mailFrom "<jobs@delivery.example>" would be refused by the function (MAIL_FROM): MAIL_FROM must be an email address',
    );
  });

  it.each([
    "no-reply@example.com",
    "<jobs@delivery.example>",
    "jobs;team@delivery.example",
    "jobs(x)@delivery.example",
    '"jobs"@delivery.example',
    "Jobs <jobs@delivery.example>",
    "jobs@delivery",
  ])(
    "when mailFrom and opsEmail are %j, then the stack deploys exactly when the deployed function accepts them",
    async (address) => {
      const bundle = fakeBundle();
      const envOf = (r: StackRun) =>
        inputsOf(r, FUNCTION, "scheduled-tasks").serviceConfig.environmentVariables as Record<string, string>;
      const accepted = envOf(await runStack(baseConfig(bundle)));
      const functionAccepts =
        parseConfig({ ...accepted, MAIL_FROM: address, OPS_EMAIL: address }).problems.length === 0;
      let deployed: StackRun | undefined;
      try {
        deployed = await runStack(baseConfig(bundle, { mailFrom: address, opsEmail: address }));
      } catch (error) {
        expect((error as Error).name).toBe("StackConfigError");
        expect((error as Error).message).toContain(`scheduled-jobs:mailFrom "${address}"`);
        expect((error as Error).message).toContain(`scheduled-jobs:opsEmail "${address}"`);
      }
      expect(deployed !== undefined).toBe(functionAccepts);
      if (deployed) expect(parseConfig(envOf(deployed)).problems).toEqual([]);
    },
  );
});

describe("per-stack overrides", () => {
  it("when a stack overrides schedule, time zone, paused and deadline, then exactly those jobs and fields change", async () => {
    const bundle = fakeBundle();
    const plain = await runStack(baseConfig(bundle));
    const overridden = await runStack(
      baseConfig(bundle, {
        taskOverrides: {
          "archive-old-orders": { schedule: "0 4 * * 0", timeZone: "Europe/Paris" },
          "driver-inactivity-check": { paused: true },
          "cleanup-distance-requests": { attemptDeadlineSeconds: 900 },
        },
      }),
    );
    const jobsOf = (r: StackRun) =>
      new Map(r.of(JOB).map((job) => [job.name, job.inputs as Record<string, unknown>]));
    const before = jobsOf(plain);
    const after = jobsOf(overridden);
    const changes: string[] = [];
    for (const [name, job] of after) {
      for (const [field, value] of Object.entries(job)) {
        if (JSON.stringify(value) !== JSON.stringify(before.get(name)?.[field]))
          changes.push(`${name}.${field}=${JSON.stringify(value)}`);
      }
    }
    expect(changes.sort()).toEqual([
      'archive-old-orders.schedule="0 4 * * 0"',
      'archive-old-orders.timeZone="Europe/Paris"',
      'cleanup-distance-requests.attemptDeadline="900s"',
      "driver-inactivity-check.paused=true",
    ]);
    // A paused frequent task is silent on purpose: no absence alert for it.
    expect(
      overridden.of("gcp:monitoring/alertPolicy:AlertPolicy").map((policy) => policy.name),
    ).not.toContain("absent-driver-inactivity-check");
  });

  it("when a stack overrides schedules, then the function is told (TASK_OVERRIDES) and its own parser accepts exactly those", async () => {
    const bundle = fakeBundle();
    const envOf = (r: StackRun) =>
      inputsOf(r, FUNCTION, "scheduled-tasks").serviceConfig.environmentVariables as Record<string, string>;
    expect(envOf(await runStack(baseConfig(bundle))).TASK_OVERRIDES).toBeUndefined();
    const env = envOf(
      await runStack(
        baseConfig(bundle, {
          taskOverrides: {
            "archive-old-orders": { schedule: "0 4 * * 0", timeZone: "Europe/Paris" },
            "driver-inactivity-check": { paused: true },
            "cleanup-distance-requests": { attemptDeadlineSeconds: 900 },
          },
        }),
      ),
    );
    expect(JSON.parse(env.TASK_OVERRIDES!)).toEqual({
      "archive-old-orders": { schedule: "0 4 * * 0", timeZone: "Europe/Paris" },
      "driver-inactivity-check": { paused: true },
      "cleanup-distance-requests": { attemptDeadlineSeconds: 900 },
    });
    const parsed = parseConfig({ ...env, DB_USER: "runtime@p.iam" });
    expect(parsed.problems).toEqual([]);
    const archive = parsed.config?.jobs.find((job) => job.name === "archive-old-orders");
    expect(archive).toMatchObject({ schedule: "0 4 * * 0", timeZone: "Europe/Paris" });
  });

  it("when the database is an existing instance, then no instance is created and the IAM user goes on that instance", async () => {
    const run = await runStack(
      baseConfig(fakeBundle(), {
        database: { connectionName: "shared-prod:europe-west1:orders-db", databaseName: "delivery" },
      }),
    );
    expect(run.of("gcp:sql/databaseInstance:DatabaseInstance")).toEqual([]);
    // Cloud SQL checks the runtime identity's roles in the instance's project, not the stack's.
    const runtimeGrants = run
      .of(PROJECT_MEMBER)
      .filter(
        (grant) =>
          grant.inputs.member === `serviceAccount:sched-jobs-runtime@${PROJECT}.iam.gserviceaccount.com`,
      )
      .map((grant) => `${String(grant.inputs.project)}: ${String(grant.inputs.role)}`)
      .sort();
    expect(runtimeGrants).toEqual([
      `${PROJECT}: roles/logging.logWriter`,
      "shared-prod: roles/cloudsql.client",
      "shared-prod: roles/cloudsql.instanceUser",
    ]);
    expect(run.of("gcp:sql/database:Database")).toEqual([]);
    expect(run.one("gcp:sql/user:User").inputs).toMatchObject({
      project: "shared-prod",
      instance: "orders-db",
      type: "CLOUD_IAM_SERVICE_ACCOUNT",
      name: `sched-jobs-runtime@${PROJECT}.iam`,
    });
    const env = run.one(FUNCTION).inputs;
    expect(env.serviceConfig.environmentVariables).toMatchObject({
      INSTANCE_CONNECTION_NAME: "shared-prod:europe-west1:orders-db",
      DB_NAME: "delivery",
    });
  });
});
