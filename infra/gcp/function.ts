/**
 * The private HTTP Cloud Function (2nd gen) that runs the tasks, built from the bundle that
 * `npm run build` writes, and the one grant that lets the scheduler's identity invoke it.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { Apis } from "./apis.js";
import type { JobSpec } from "../config.js";
import type { FunctionDeployment } from "./config.js";
import { functionTimeoutSeconds } from "./config.js";
import { OperatorError } from "../errors.js";
import { tasks } from "../../functions/core/catalog.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import type { HttpTargets } from "../../functions/core/config/http-targets.js";
import { computedVariable } from "../environment.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { overridesOf } from "../../functions/core/schedule/jobs.js";
import { monitoringAgentEmail } from "../../functions/gcp/google-identities.js";

/** The name the framework registers the handler under (`functions.http('scheduledTasks', ...)`). */
const ENTRY_POINT = "scheduledTasks";
/** nodejs20 was retired for Cloud Functions on 2026-10-30. */
export const RUNTIME = "nodejs22";

interface FunctionSource {
  readonly hash: string;
  readonly archive: pulumi.asset.FileArchive;
}

/**
 * The bundle as an archive, with a hash of its content. The hash is in the uploaded object's name,
 * so a code change is a new object and a new deployment, and an unchanged bundle deploys nothing.
 */
export function functionSource(dir: string): FunctionSource {
  if (!existsSync(join(dir, "index.js")) || !existsSync(join(dir, "package.json"))) {
    throw new OperatorError(
      `the function's bundle is missing: ${dir} has no index.js and package.json. Run \`npm run build\` before \`pulumi up\` (or point scheduled-jobs:function.sourceDir at the bundle).`,
    );
  }
  return { hash: hashDirectory(dir), archive: new pulumi.asset.FileArchive(dir) };
}

/** SHA-256 over every file's relative path and content, in a stable order. */
function hashDirectory(dir: string): string {
  const hash = createHash("sha256");
  const walk = (current: string): void => {
    for (const entry of readdirSync(current).sort()) {
      const path = join(current, entry);
      if (statSync(path).isDirectory()) {
        walk(path);
      } else {
        hash.update(relative(dir, path).split("\\").join("/"));
        hash.update("\0");
        hash.update(readFileSync(path));
        hash.update("\0");
      }
    }
  };
  walk(dir);
  return hash.digest("hex");
}

/** The stack's values that the deployed function's environment carries (besides its URL and caller). */
interface FunctionEnvironment {
  readonly instanceConnectionName: pulumi.Input<string>;
  readonly databaseUser: pulumi.Input<string>;
  readonly databaseName: string;
  /** Absent on a stack that runs no email task: the function is told of no key. */
  readonly sendGridSecretVersion: pulumi.Input<string> | undefined;
  readonly mailFrom: string;
  readonly opsEmail: string;
  /** The http tasks' targets (HTTP_TARGETS; absent when none). */
  readonly httpTargets?: HttpTargets;
  /** The people who may act from the dashboard (OPERATOR_EMAILS; absent when none). */
  readonly operators?: readonly string[];
}

export interface DeployedFunction {
  readonly function: gcp.cloudfunctionsv2.Function;
  readonly bucket: gcp.storage.Bucket;
  readonly object: gcp.storage.BucketObject;
  /** The URL the jobs call and the audience of their OIDC tokens. */
  readonly url: pulumi.Output<string>;
  /** The underlying Cloud Run service's name. */
  readonly serviceName: pulumi.Output<string>;
  readonly invoker: gcp.cloudrunv2.ServiceIamMember;
  /** Each operator's invoker grant, so that `gcloud run services proxy` reaches the function as them. */
  readonly operatorInvokers: readonly gcp.cloudrunv2.ServiceIamMember[];
  /** The project's Cloud Monitoring service agent, when the function accepts it (the dead-man checks). */
  readonly monitoringAgentEmail: pulumi.Output<string> | undefined;
}

/**
 * The function's deterministic Cloud Run URL, https://<service>-<project number>.<region>.run.app.
 * It is known before the function exists, which the function needs: its own URL is its token
 * audience (AUTH_AUDIENCE), and an output of the function cannot be an input of the same function.
 */
function deterministicUrl(
  serviceName: string,
  projectNumber: pulumi.Input<string>,
  region: string,
): pulumi.Output<string> {
  return pulumi.output(projectNumber).apply((number) => {
    const label = `${serviceName}-${number}`;
    if (label.length > 63) {
      throw new Error(
        `the function name "${serviceName}" is too long for a deterministic run.app URL ("${label}" exceeds 63 characters); choose a shorter scheduled-jobs:function.name`,
      );
    }
    return `https://${label}.${region}.run.app`;
  });
}

export function createFunction(args: {
  project: string;
  region: string;
  prefix: string;
  config: FunctionDeployment;
  /** The bundle, read before anything is registered (see createStack). */
  source: FunctionSource;
  jobs: readonly JobSpec[];
  /** Every task as the stack schedules it, pg_cron's too: the function judges them all in /health. */
  allJobs: readonly Job[];
  runtimeEmail: pulumi.Output<string>;
  buildServiceAccount: pulumi.Output<string>;
  schedulerEmail: pulumi.Output<string>;
  /** Accept the Cloud Monitoring service agent too, which the router lets read GET /health only. */
  acceptMonitoringAgent: boolean;
  environment: FunctionEnvironment;
  apis: Apis;
  /** Grants the function's identities need before the first deployment can succeed. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}): DeployedFunction {
  const { project, region, config, apis, source } = args;
  const projectNumber = gcp.organizations
    .getProjectOutput({ projectId: project })
    .apply((found) => found.number);
  const url = deterministicUrl(config.name, projectNumber, region);
  const monitoringAgent = args.acceptMonitoringAgent
    ? projectNumber.apply((number) => monitoringAgentEmail(number))
    : undefined;

  const bucket = new gcp.storage.Bucket(
    "function-source",
    {
      project,
      name: `${project}-${args.prefix}-source`,
      location: region,
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      forceDestroy: true,
      labels: { app: "scheduled-jobs" },
    },
    { dependsOn: [apis.storage] },
  );
  const object = new gcp.storage.BucketObject("function-source", {
    bucket: bucket.name,
    name: `scheduled-tasks-${source.hash.slice(0, 16)}.zip`,
    source: source.archive,
  });

  const env = args.environment;
  const fn = new gcp.cloudfunctionsv2.Function(
    "scheduled-tasks",
    {
      project,
      location: region,
      name: config.name,
      description: "Runs the scheduled tasks of the delivery app; invoked by Cloud Scheduler only.",
      labels: { app: "scheduled-jobs" },
      buildConfig: {
        runtime: RUNTIME,
        entryPoint: ENTRY_POINT,
        serviceAccount: args.buildServiceAccount,
        source: { storageSource: { bucket: bucket.name, object: object.name } },
      },
      serviceConfig: {
        serviceAccountEmail: args.runtimeEmail,
        availableMemory: config.memory,
        ...(config.cpu !== undefined ? { availableCpu: config.cpu } : {}),
        timeoutSeconds: functionTimeoutSeconds(args.jobs),
        minInstanceCount: config.minInstances,
        maxInstanceCount: config.maxInstances,
        maxInstanceRequestConcurrency: config.concurrency,
        ingressSettings: config.ingress,
        allTrafficOnLatestRevision: true,
        environmentVariables: deployedEnvironment(
          project,
          env,
          url,
          [args.schedulerEmail, ...(monitoringAgent ? [monitoringAgent] : [])],
          args.allJobs,
        ),
      },
    },
    {
      dependsOn: [apis.cloudfunctions, apis.run, apis.cloudbuild, apis.artifactregistry, ...args.dependsOn],
    },
  );

  const serviceName = fn.serviceConfig.apply((service) => service?.service ?? "");
  // 2nd gen invocation is Cloud Run's invoker role on the underlying service; the Cloud Functions
  // invoker role binds but does nothing, and FunctionIamMember with roles/run.invoker is rejected.
  const invoker = new gcp.cloudrunv2.ServiceIamMember("scheduler-invoker", {
    project,
    location: region,
    name: serviceName,
    role: "roles/run.invoker",
    member: pulumi.interpolate`serviceAccount:${args.schedulerEmail}`,
  });
  const operatorInvokers = grantOperators(project, region, serviceName, env.operators ?? []);
  return {
    function: fn,
    bucket,
    object,
    url,
    serviceName,
    invoker,
    operatorInvokers,
    monitoringAgentEmail: monitoringAgent,
  };
}

/**
 * The dashboard's operators reach the private function through `gcloud run services proxy`, which
 * sends their own identity token: Cloud Run admits it only with the invoker role on the service,
 * granted to the person by name (Google's "Authenticate developers",
 * https://cloud.google.com/run/docs/authenticating/developers). What they may do there is the
 * function's to decide (OPERATOR_EMAILS).
 */
function grantOperators(
  project: string,
  region: string,
  serviceName: pulumi.Output<string>,
  operators: readonly string[],
): gcp.cloudrunv2.ServiceIamMember[] {
  return operators.map(
    (email) =>
      new gcp.cloudrunv2.ServiceIamMember(`operator-invoker-${email}`, {
        project,
        location: region,
        name: serviceName,
        role: "roles/run.invoker",
        member: `${email.endsWith(".gserviceaccount.com") ? "serviceAccount" : "user"}:${email}`,
      }),
  );
}

/**
 * The deployed function's environment, each variable written by the function's own environment
 * contract (functions/core/config/environment.ts), which reads every value back with the function's parser:
 * the stack's values are checked when the program starts, Google's computed ones when they resolve.
 */
function deployedEnvironment(
  project: string,
  env: FunctionEnvironment,
  url: pulumi.Input<string>,
  callers: readonly pulumi.Input<string>[],
  jobs: readonly Job[],
): Record<string, pulumi.Input<string>> {
  return {
    ...writeEnvironment({
      // functions-framework answers a thrown error with its message unless in production.
      NODE_ENV: "production",
      // Cloud Run sets no project variable for a function
      // (https://cloud.google.com/run/docs/configuring/services/overview-environment-variables,
      // "Reserved environment variables for functions"): without it the log lines carry no trace
      // field, and google-auth-library looks for gcloud before the metadata server to find the
      // project when it mints an http task's first ID token.
      GOOGLE_CLOUD_PROJECT: project,
      // Cloud Run IAM checks the token's signature before the request reaches the code.
      AUTH_MODE: "cloud-run",
      DB_NAME: env.databaseName,
      MAIL_FROM: env.mailFrom,
      OPS_EMAIL: env.opsEmail,
      // What the stack really runs (Cloud Scheduler's jobs and pg_cron's), so /health and the overdue
      // alert judge every task by its deployed schedule (absent when nothing is overridden).
      TASK_OVERRIDES: overridesOf(tasks, jobs),
      HTTP_TARGETS: env.httpTargets,
      OPERATOR_EMAILS: env.operators,
    }),
    AUTH_AUDIENCE: computedVariable(
      "AUTH_AUDIENCE",
      pulumi.output(url).apply((audience) => [audience]),
    ),
    AUTH_ALLOWED_EMAILS: computedVariable(
      "AUTH_ALLOWED_EMAILS",
      pulumi.all([...callers]).apply((emails): readonly string[] => emails),
    ),
    INSTANCE_CONNECTION_NAME: computedVariable("INSTANCE_CONNECTION_NAME", env.instanceConnectionName),
    DB_USER: computedVariable("DB_USER", env.databaseUser),
    // The version's resource name, never the key: the function reads the value at run time.
    ...(env.sendGridSecretVersion === undefined
      ? {}
      : {
          SENDGRID_API_KEY_SECRET: computedVariable("SENDGRID_API_KEY_SECRET", env.sendGridSecretVersion),
        }),
  };
}
