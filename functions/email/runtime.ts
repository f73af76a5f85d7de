/**
 * The email tasks of one instance: picks the transport (SendGrid, or the local mailbox when a local
 * run chose it with EMAIL_TRANSPORT; never as a fallback for a missing key), keeps the key and the SDK client for the life of the instance, and hands the
 * runner the handler of each email task.
 */
import type { TaskDefinition } from "../core/catalog.js";
import { ScheduledTaskError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { EmailTaskContext, EmailTaskHandler, EmailTaskOutcome } from "../core/run/task-contract.js";
import type { EmailConfig } from "../core/config/email-config.js";
import type { SendRetryPolicy } from "./deliver.js";
import { defaultSendRetryPolicy } from "./deliver.js";
import { alertFailedRuns } from "./failed-run-alerts.js";
import { createLocalMailboxTransport } from "./local-mailbox.js";
import { sendOrderConfirmations } from "./order-confirmations.js";
import type { SecretVersionReader } from "./secret-manager.js";
import { secretManagerKey } from "./secret-manager.js";
import type { ApiKeySource } from "./secrets.js";
import { envKey } from "./secrets.js";
import type { SecretValueReader } from "./secrets-manager.js";
import { secretsManagerKey } from "./secrets-manager.js";
import type { MailTransport } from "./transport.js";
import { sendVendorReports } from "./vendor-reports.js";

/** Where alerts go locally when OPS_EMAIL is unset (nothing is sent then anyway). */
const LOCAL_OPS_EMAIL = "ops@localhost.localdomain";

const DEFAULT_SEND_TIMEOUT_MS = 15_000;

interface OutboxPolicy {
  /** Runs that may try one outbox row before it is parked as dead. */
  readonly maxAttempts: number;
  /** Delay before the retry after the first failed attempt; doubles with each attempt. */
  readonly backoffSeconds: number;
  /** The longest delay between two attempts. */
  readonly maxBackoffSeconds: number;
}

/**
 * 12 attempts, 1, 2, 4 ... minutes apart, at most 4 hours: the 12th attempt comes about 16 hours
 * after the first, so an outage of SendGrid (or of our key) for hours parks nothing; a customer
 * would rather get a late confirmation than none. A row that dies is listed in the next failed-runs
 * alert and can be requeued (`npm run cli -- requeue`).
 */
const defaultOutboxPolicy: OutboxPolicy = {
  maxAttempts: 12,
  backoffSeconds: 60,
  maxBackoffSeconds: 14_400,
};

export interface EmailWorkOptions {
  readonly transport: MailTransport;
  readonly mailFrom: string;
  readonly opsEmail: string | undefined;
  readonly retry: SendRetryPolicy;
  /**
   * How long a claimed message stays reserved for the run that claimed it. Longer than any run
   * (the catalog's timeouts are at most 15 minutes), so a live run's messages are never taken over.
   */
  readonly leaseSeconds: number;
  readonly outbox: OutboxPolicy;
}

export interface EmailRuntimeOptions {
  readonly config: EmailConfig;
  /** Replaces the SecretManagerServiceClient (tests). */
  readonly secretClient?: SecretVersionReader | (() => Promise<SecretVersionReader>);
  /** Replaces the SecretsManagerClient's GetSecretValue (tests). */
  readonly secretsManagerClient?: SecretValueReader;
  readonly retry?: Partial<SendRetryPolicy>;
  readonly outbox?: Partial<OutboxPolicy>;
  readonly leaseSeconds?: number;
  /** Per SendGrid API call. */
  readonly sendTimeoutMs?: number;
}

export interface EmailRuntime {
  handlerFor(task: TaskDefinition): Promise<EmailTaskHandler>;
}

type Work = (ctx: EmailTaskContext, options: EmailWorkOptions) => Promise<EmailTaskOutcome>;

const workByTask: Readonly<Record<string, Work>> = {
  "send-daily-vendor-reports": sendVendorReports,
  "send-order-confirmations": sendOrderConfirmations,
  "alert-failed-runs": alertFailedRuns,
};

function noKey(): ScheduledTaskError {
  return new ScheduledTaskError(
    "unavailable",
    "no SendGrid key is configured (SENDGRID_API_KEY_SECRET, SENDGRID_API_KEY_SECRET_ARN or SENDGRID_API_KEY): nothing was sent and every email stays queued; a local run that means to send nothing sets EMAIL_TRANSPORT=local-mailbox",
  );
}

/** Where the key comes from: the environment, or a cloud's store by the one key rule (./secrets.ts). */
function keySource(
  key: Exclude<EmailConfig["key"], { source: "none" }>,
  options: EmailRuntimeOptions,
  log: Logger,
): ApiKeySource {
  const refresh = { refreshSeconds: options.config.secretRefreshSeconds, log };
  switch (key.source) {
    case "env":
      return envKey(key.apiKey);
    case "secret-manager":
      return secretManagerKey({ ...refresh, secretVersion: key.secretVersion, client: options.secretClient });
    case "secrets-manager":
      return secretsManagerKey({
        ...refresh,
        secretArn: key.secretArn,
        client: options.secretsManagerClient,
      });
  }
}

/** A dry run without a key counts what is due; it never sends. */
const unconfigured: MailTransport = {
  name: "none",
  accepted: "sent",
  send: () => Promise.reject(noKey()),
};

export function createEmailRuntime(options: EmailRuntimeOptions): EmailRuntime {
  const { config } = options;
  const retry: SendRetryPolicy = { ...defaultSendRetryPolicy, ...options.retry };
  const outbox: OutboxPolicy = { ...defaultOutboxPolicy, ...options.outbox };
  const leaseSeconds = options.leaseSeconds ?? 1800;

  let apiKey: ApiKeySource | undefined;
  let sendgrid: Promise<MailTransport> | undefined;
  const sendgridTransport = (ctx: EmailTaskContext): Promise<MailTransport> => {
    const key = config.key;
    if (key.source === "none") throw new Error("no SendGrid key is configured");
    apiKey ??= keySource(key, options, ctx.log);
    const source = apiKey;
    sendgrid ??= import("./sendgrid.js")
      .then(({ createSendGridTransport }) =>
        createSendGridTransport({
          apiKey: source,
          baseUrl: config.baseUrl,
          timeoutMs: options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
        }),
      )
      .catch((error: unknown) => {
        sendgrid = undefined;
        throw error;
      });
    return sendgrid;
  };

  return {
    handlerFor(task: TaskDefinition): Promise<EmailTaskHandler> {
      const work = workByTask[task.name];
      if (!work) return Promise.reject(new Error(`no email handler for the task "${task.name}"`));
      return Promise.resolve(async (runnerContext: EmailTaskContext) => {
        const ctx = { ...runnerContext, startedAt: Date.now() };
        let transport: MailTransport;
        if (config.transport === "local-mailbox") {
          transport = createLocalMailboxTransport(ctx.pool, ctx.log);
        } else if (config.key.source === "none") {
          // A configuration error, never a reason to pretend: nothing is claimed, every email stays
          // queued, and the 503 makes Cloud Scheduler retry (and the failed-runs alert say so).
          if (!ctx.dryRun) throw noKey();
          transport = unconfigured;
        } else {
          transport = await sendgridTransport(ctx);
          // Read the key before claiming anything: an unreachable Secret Manager fails the run (503)
          // with every message still due.
          if (!ctx.dryRun) await apiKey!();
        }
        // No attempt may start that could not finish before the task's timeout.
        const sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
        const latestStart = ctx.startedAt + ctx.task.timeoutSeconds * 1000 - sendTimeoutMs - 5000;
        return work(
          { ...ctx, deadline: Math.min(ctx.deadline, latestStart) },
          {
            transport,
            mailFrom: config.mailFrom,
            opsEmail: config.opsEmail ?? (config.transport === "local-mailbox" ? LOCAL_OPS_EMAIL : undefined),
            retry,
            leaseSeconds,
            outbox,
          },
        );
      });
    },
  };
}
