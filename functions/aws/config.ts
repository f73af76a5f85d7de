/**
 * The Lambda's configuration: read once, at cold start, through the one environment table
 * (functions/core/config/environment.ts) and the core's section parsers, the same ones Google's
 * function uses for its database, email settings and jobs. What the Lambda adds: its schedule
 * group (SCHEDULE_GROUP_ARN), without which it cannot tell its own ticks from other deliveries,
 * and the Region it runs in (AWS_REGION, set by Lambda), which the local stack's loopback http
 * targets are signed for.
 * There is no AUTH_*: IAM decides who may invoke the function, and the event is checked strictly.
 */
import type { DatabaseConfig, Env } from "../core/config/function-config.js";
import { emailWarnings, parseDatabaseEnv, parseEmailEnv, parseJobs } from "../core/config/function-config.js";
import type { EmailConfig } from "../core/config/email-config.js";
import { readVariable, requireVariable } from "../core/config/environment.js";
import type { HttpTargets } from "../core/config/http-targets.js";
import type { Job } from "../core/schedule/jobs.js";

export interface LambdaConfig {
  readonly database: DatabaseConfig;
  /** Connections per instance: one invoke at a time, plus one to record a run's end. */
  readonly poolMax: number;
  readonly email: EmailConfig;
  readonly scheduleGroupArn: string;
  readonly jobs: readonly Job[];
  /** The services http tasks call (HTTP_TARGETS), each signed for as its host says (./sigv4-scope.ts). */
  readonly httpTargets: HttpTargets;
  /** AWS_REGION, which Lambda sets; undefined outside Lambda. */
  readonly region: string | undefined;
}

interface ParsedLambdaConfig {
  readonly config?: LambdaConfig;
  /** Each makes the Lambda refuse every invoke (fail closed) until the deployment is fixed. */
  readonly problems: string[];
  readonly warnings: string[];
}

/** Reads and checks the Lambda's environment. Pure: no connection, no file, no network. */
export function parseLambdaConfig(env: Env): ParsedLambdaConfig {
  const problems: string[] = [];
  const database = parseDatabaseEnv(env);
  problems.push(...database.problems);
  const poolMax = readVariable(env, "DB_POOL_MAX", problems);
  const email = parseEmailEnv(env);
  problems.push(...email.problems);
  const scheduleGroupArn = requireVariable(env, "SCHEDULE_GROUP_ARN", problems);
  const jobs = parseJobs(env, problems);
  const httpTargets = readVariable(env, "HTTP_TARGETS", problems);
  const region = readVariable(env, "AWS_REGION", problems);
  const warnings = emailWarnings(email.config);
  if (problems.length > 0 || !database.config || poolMax === undefined || !email.config || !jobs) {
    return { problems, warnings };
  }
  if (!scheduleGroupArn || !httpTargets) return { problems, warnings };
  return {
    config: {
      database: database.config,
      poolMax,
      email: email.config,
      scheduleGroupArn,
      jobs,
      httpTargets,
      region,
    },
    problems,
    warnings,
  };
}
