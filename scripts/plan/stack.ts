/**
 * A stack as `plan` reads it: its config file read the way Pulumi hands it to infra/ (each value a
 * string, or an object that `getObject` parses), the cloud it deploys to, its jobs (`resolveJobs`
 * through scripts/lib/jobs.ts), and what `pulumi up` would refuse: the cloud's own config check
 * (infra/gcp/config.ts `resolveConfig`, infra/aws/config.ts `resolveAwsConfig`), called as infra
 * calls it. Only the secret SendGrid key, which a stack file does not hold in the clear, is not
 * looked at.
 */
import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { tasks } from "../../functions/core/catalog.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { stackJobs } from "../lib/jobs.js";

export type Cloud = "gcp" | "aws";

/** The function's size, for its cost: the stack's values, or its defaults when the stack is refused. */
export interface FunctionSize {
  readonly memoryMib: number;
  /** Google's function only: its vCPUs when the stack sets them. */
  readonly vcpus: number | undefined;
  /** Where the figures come from: the checked stack, or the program's defaults. */
  readonly from: "stack" | "defaults";
}

export interface PlanStack {
  readonly file: string;
  readonly cloud: Cloud;
  readonly jobs: readonly Job[];
  /** Each a reason `pulumi up` would refuse the stack, in infra's words. */
  readonly refusals: readonly string[];
  readonly functionSize: FunctionSize;
}

const NAMESPACE = "scheduled-jobs:";

/** The stack file's `config:` map, or nothing when the file is absent. */
function configMap(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  const document = parseYaml(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  return document?.config ?? {};
}

/** A value as `pulumi.Config.get` answers it: Pulumi hands the program every value as text. */
function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A value as `pulumi.Config.getObject` answers it: the text parsed as JSON. */
function asObject(value: unknown): unknown {
  if (typeof value !== "string") return value ?? undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

export async function readPlanStack(
  file: string,
  catalog: readonly TaskDefinition[] = tasks,
): Promise<PlanStack> {
  const config = configMap(file);
  const { cloudOf, SHARED_STRING_KEYS, StackConfigError } = await import("../../infra/config.js");
  const strings: readonly string[] = SHARED_STRING_KEYS;
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!key.startsWith(NAMESPACE) || key === `${NAMESPACE}sendgridApiKey`) continue;
    const name = key.slice(NAMESPACE.length);
    raw[name] = strings.includes(name) ? asText(value) : asObject(value);
  }
  const resolved = stackJobs(file, catalog);
  let cloud: Cloud;
  try {
    cloud = cloudOf(asText(config[`${NAMESPACE}cloud`]));
  } catch (error) {
    const problems = error instanceof StackConfigError ? error.problems : [(error as Error).message];
    return { file, cloud: "gcp", jobs: resolved.jobs, refusals: problems, functionSize: defaults() };
  }
  try {
    const functionSize =
      cloud === "aws" ? await awsSize(raw, config, catalog) : await gcpSize(raw, config, catalog);
    return { file, cloud, jobs: resolved.jobs, refusals: [], functionSize };
  } catch (error) {
    if (!(error instanceof StackConfigError)) throw error;
    return { file, cloud, jobs: resolved.jobs, refusals: error.problems, functionSize: defaults() };
  }
}

async function gcpSize(
  raw: Record<string, unknown>,
  config: Record<string, unknown>,
  catalog: readonly TaskDefinition[],
): Promise<FunctionSize> {
  const { resolveConfig } = await import("../../infra/gcp/config.js");
  const checked = resolveConfig(
    { ...raw, project: asText(config["gcp:project"]), region: asText(config["gcp:region"]) },
    catalog,
  );
  return {
    memoryMib: mebibytes(checked.function.memory),
    vcpus: checked.function.cpu === undefined ? undefined : Number(checked.function.cpu),
    from: "stack",
  };
}

async function awsSize(
  raw: Record<string, unknown>,
  config: Record<string, unknown>,
  catalog: readonly TaskDefinition[],
): Promise<FunctionSize> {
  const { resolveAwsConfig } = await import("../../infra/aws/config.js");
  const checked = resolveAwsConfig({ ...raw, region: asText(config["aws:region"]) }, catalog);
  return { memoryMib: checked.lambda.memoryMb, vcpus: undefined, from: "stack" };
}

/** The programs' defaults (infra/gcp/config.ts: 512Mi; infra/aws/config.ts: 512 MB). */
function defaults(): FunctionSize {
  return { memoryMib: 512, vcpus: undefined, from: "defaults" };
}

/** `512Mi`, `1Gi`, `512M`, `1G` in MiB (as Cloud Run reads them: M and G are decimal). */
function mebibytes(memory: string): number {
  const match = /^(\d+)(Mi|Gi|M|G)$/.exec(memory);
  if (!match) return 512;
  const value = Number(match[1]);
  switch (match[2]) {
    case "Gi":
      return value * 1024;
    case "M":
      return (value * 1e6) / 2 ** 20;
    case "G":
      return (value * 1e9) / 2 ** 20;
    default:
      return value;
  }
}
