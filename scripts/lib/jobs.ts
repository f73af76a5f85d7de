/**
 * The jobs a stack's config file deploys, for the tools that run without Pulumi (the local
 * scheduler, the CLI, npm run task, the pg_cron generator): `Pulumi.<stack>.yaml` read as Pulumi
 * would hand it to infra/, then the one rule, `resolveJobs` (functions/core/schedule/jobs.ts). Fire times come
 * from functions/core/schedule/fire-times.ts, as in the function.
 */
import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { RetryPolicy, TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import type { Job, JobSettings, ResolvedJobs } from "../../functions/core/schedule/jobs.js";
import { resolveJobs } from "../../functions/core/schedule/jobs.js";

export type { Job } from "../../functions/core/schedule/jobs.js";

export const OVERRIDES_KEY = "scheduled-jobs:taskOverrides";
export const DEFAULT_TIME_ZONE_KEY = "scheduled-jobs:defaultTimeZone";
const PAUSE_ALL_KEY = "scheduled-jobs:pauseAll";
const HTTP_TARGETS_KEY = "scheduled-jobs:httpTargets";

/** A stack file's `config:` map; empty when the file is absent. Throws when it is not YAML. */
function readStackConfig(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  return (document as { config?: Record<string, unknown> } | null)?.config ?? {};
}

/** A structured value as Pulumi stores it: nested YAML, or a JSON string (`pulumi config set`). */
function structured(file: string, key: string, value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new Error(`${file}: ${key} is a string that is not JSON`);
  }
}

/**
 * The target keys a stack file names in `scheduled-jobs:httpTargets` (none when absent), as written:
 * whether each is a target the function accepts is infra's check (functions/core/config/http-targets.ts).
 */
export function readStackHttpTargetKeys(file: string): string[] {
  const targets = structured(file, HTTP_TARGETS_KEY, readStackConfig(file)[HTTP_TARGETS_KEY]);
  return typeof targets === "object" && targets !== null && !Array.isArray(targets)
    ? Object.keys(targets)
    : [];
}

/**
 * What a stack's Pulumi config file says about the jobs, as raw values. Absent file or keys:
 * nothing. Pulumi stores a structured value as nested YAML under `config:`, or as a JSON string
 * (`pulumi config set` of a JSON text); `--path` stores booleans and numbers as strings, which
 * `resolveJobs` reads as infra does. Throws only when the file is not YAML.
 */
export function readStackJobSettings(file: string): JobSettings {
  const source = {
    source: `${file}: ${OVERRIDES_KEY}`,
    defaultTimeZoneSource: `${file}: ${DEFAULT_TIME_ZONE_KEY}`,
    pauseAllSource: `${file}: ${PAUSE_ALL_KEY}`,
  };
  if (!existsSync(file)) return source;
  const config = readStackConfig(file);
  return {
    ...source,
    overrides: structured(file, OVERRIDES_KEY, config[OVERRIDES_KEY]),
    defaultTimeZone: config[DEFAULT_TIME_ZONE_KEY],
    pauseAll: config[PAUSE_ALL_KEY],
  };
}

/** The stack's jobs and their problems (`resolveJobs` over the catalog and the stack file). */
export function stackJobs(file: string, catalog: readonly TaskDefinition[] = tasks): ResolvedJobs {
  return resolveJobs(catalog, readStackJobSettings(file));
}

/** The stack's jobs; throws one error listing every problem. */
export function loadStackJobs(file: string): readonly Job[] {
  const { jobs, problems } = stackJobs(file);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return jobs;
}

/**
 * Cloud Scheduler's wait before retry `n` (0 = the first retry): `minBackoff` doubled `maxDoublings`
 * times, then growing linearly by `minBackoff * 2^maxDoublings`, never above `maxBackoff`
 * (with 10 s / 300 s / 3 doublings: 10, 20, 40, 80, 160, 240, 300, 300 s).
 */
export function retryBackoffSeconds(retry: RetryPolicy, n: number): number {
  const { minBackoffSeconds: min, maxBackoffSeconds: max, maxDoublings } = retry;
  const wait = n <= maxDoublings ? min * 2 ** n : min * 2 ** maxDoublings * (n - maxDoublings + 1);
  return Math.min(wait, max);
}

/** The stack's name from its config file's (`Pulumi.<stack>.yaml`); undefined for another name. */
export function stackNameOf(file: string): string | undefined {
  return /(?:^|[\\/])Pulumi\.([^\\/]+)\.ya?ml$/.exec(file)?.[1];
}

/** The stack's config file the local tools read, when present. */
export function defaultStackFile(stack = process.env.PULUMI_STACK ?? "dev"): string {
  const inInfra = `infra/Pulumi.${stack}.yaml`;
  return existsSync(inInfra) ? inInfra : `Pulumi.${stack}.yaml`;
}
