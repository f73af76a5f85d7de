/**
 * The AWS half of the local stack (`npm start -- --cloud aws`): the Lambda built exactly as it is
 * deployed (dist/lambda), run by a local Lambda (./lambda-host.ts: child processes, one invoke at
 * a time each), its asynchronous queue with Lambda's retries (./lambda-async.ts), a loopback copy
 * of the Invoke API for manual runs (./lambda-endpoint.ts), and EventBridge Scheduler's delivery
 * for the local scheduler (./local-eventbridge.ts): each attempt of a tick the schedule's templated
 * Input, substituted, invoked asynchronously. All of it on the scheduler's clock.
 */
import { join } from "node:path";
import { tasks } from "../../functions/core/catalog.js";
import type { VariableName } from "../../functions/core/config/environment.js";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import type { HttpTargets } from "../../functions/core/config/http-targets.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { overridesOf } from "../../functions/core/schedule/jobs.js";
import type { AsyncAttempt } from "./lambda-async.js";
import { AsyncInvoker } from "./lambda-async.js";
import type { LambdaEndpoint } from "./lambda-endpoint.js";
import { invocationsPath, serveLambdaEndpoint } from "./lambda-endpoint.js";
import { LocalLambda } from "./lambda-host.js";
import { eventBridgeDelivery, LOCAL_SCHEDULE_GROUP_ARN } from "./local-eventbridge.js";
import type { Clock, Deliver } from "./local-scheduler.js";
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from "./sigv4-check.js";

export interface LocalAwsOptions {
  readonly root: string;
  readonly databaseUrl: string;
  readonly jobs: readonly Job[];
  /** The Invoke API's port (0 picks a free one). */
  readonly port: number;
  /** Where the Lambda is built (default dist/lambda). */
  readonly lambdaDir?: string;
  /** More of the Lambda's environment as text (SENDGRID_API_KEY, MAIL_FROM, ...), over the local defaults. */
  readonly env?: Readonly<Partial<Record<VariableName, string>>>;
  /** The http tasks' targets (HTTP_TARGETS): the local stack's demo app backend. */
  readonly httpTargets?: HttpTargets;
  /** Lambda's retries of a function error for asynchronous invokes: 0 to 2 (default 2). */
  readonly maximumRetryAttempts?: number;
  readonly clock?: Clock;
  readonly onLambdaLog?: (line: string) => void;
  readonly onAsyncAttempt?: (attempt: AsyncAttempt) => void;
  readonly log?: (message: string) => void;
}

export interface LocalAws {
  readonly lambda: LocalLambda;
  readonly invoker: AsyncInvoker;
  readonly endpoint: LambdaEndpoint;
  /** The Invoke API's URL for this function: POST a run request to it. */
  readonly invokeUrl: string;
  readonly scheduleGroupArn: string;
  /** The local scheduler's delivery, as EventBridge Scheduler's. */
  readonly deliver: Deliver;
  stop(): Promise<void>;
}

/** The Lambda's environment, as the Pulumi program writes it, with the local choices. */
function lambdaEnv(options: LocalAwsOptions): Record<string, string> {
  const keyed = options.env?.SENDGRID_API_KEY || options.env?.SENDGRID_API_KEY_SECRET_ARN;
  return {
    ...writeEnvironment({
      DATABASE_URL: options.databaseUrl,
      SCHEDULE_GROUP_ARN: LOCAL_SCHEDULE_GROUP_ARN,
      // Given no SendGrid key, a local run chooses the local mailbox, explicitly.
      EMAIL_TRANSPORT: keyed ? undefined : "local-mailbox",
      MAIL_FROM: "no-reply@delivery.example",
      OPS_EMAIL: "ops@delivery.example",
      TASK_OVERRIDES: overridesOf(tasks, options.jobs),
      HTTP_TARGETS: options.httpTargets,
      AWS_REGION: LOCAL_AWS_REGION,
    }),
    // What Lambda gives the function's role, as Lambda does: the http tasks' SigV4 signer reads them.
    AWS_ACCESS_KEY_ID: LOCAL_AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_AWS_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: LOCAL_AWS_CREDENTIALS.sessionToken,
    ...options.env,
  };
}

export async function startLocalAws(options: LocalAwsOptions): Promise<LocalAws> {
  const { buildLambda } = await import("../generate/lambda-bundle.js");
  const built = await buildLambda(options.lambdaDir ?? join(options.root, "dist", "lambda"));
  if (built.regenerated.length > 0)
    options.log?.(`sql/tasks changed: regenerated ${built.regenerated.join(", ")}`);
  const lambda = new LocalLambda({
    entry: built.entry,
    env: lambdaEnv(options),
    ...(options.onLambdaLog ? { onLine: options.onLambdaLog } : {}),
  });
  const invoker = new AsyncInvoker({
    lambda,
    ...(options.maximumRetryAttempts !== undefined
      ? { maximumRetryAttempts: options.maximumRetryAttempts }
      : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onAsyncAttempt ? { onAttempt: options.onAsyncAttempt } : {}),
  });
  const endpoint = await serveLambdaEndpoint({
    port: options.port,
    invoke: (event) => lambda.invoke(event),
    invokeAsync: (event) => invoker.invokeAsync(event),
  });
  return {
    lambda,
    invoker,
    endpoint,
    invokeUrl: `${endpoint.url}${invocationsPath()}`,
    scheduleGroupArn: LOCAL_SCHEDULE_GROUP_ARN,
    deliver: eventBridgeDelivery({
      scheduleGroupArn: LOCAL_SCHEDULE_GROUP_ARN,
      invokeAsync: (event) => invoker.invokeAsync(event),
    }),
    async stop() {
      await endpoint.close();
      await invoker.stop();
      await lambda.stop();
    },
  };
}
