/**
 * Runs the Pulumi program under `pulumi.runtime.setMocks`: strict mocks that know each resource type
 * the program may create (an unknown type fails the test), synthesize the outputs Google would
 * compute (emails, service names, URLs), and record every resource's inputs for policy assertions.
 *
 * The program's modules are imported only after the mocks are installed (static imports are hoisted
 * and would run before them).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { RawConfig } from "../../infra/config.js";
import type { StackConfig } from "../../infra/gcp/config.js";
import type { StackOutputs } from "../../infra/gcp/stack.js";

export const PROJECT = "delivery-test";
export const PROJECT_NUMBER = "123456789012";
export const REGION = "europe-west1";

/** Resource inputs as the mock monitor hands them over: untyped JSON, navigated freely in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Inputs = Record<string, any>;

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: Inputs;
  readonly state: Inputs;
}

/** Outputs a cloud would compute for a resource of one type, from its inputs and name. */
export type Synthesizer = (inputs: Inputs, name: string) => Record<string, unknown>;

/** Outputs a real deployment computes, by type; every type the program may create is listed. */
const synthesize: Record<string, Synthesizer> = {
  "gcp:projects/service:Service": () => ({}),
  "gcp:serviceaccount/account:Account": (inputs) => {
    const email = `${inputs.accountId}@${inputs.project}.iam.gserviceaccount.com`;
    return {
      email,
      name: `projects/${inputs.project}/serviceAccounts/${email}`,
      member: `serviceAccount:${email}`,
    };
  },
  "gcp:projects/iAMMember:IAMMember": () => ({ etag: "etag" }),
  "gcp:secretmanager/secret:Secret": (inputs) => ({
    name: `projects/${PROJECT_NUMBER}/secrets/${inputs.secretId}`,
  }),
  "gcp:secretmanager/secretVersion:SecretVersion": (inputs) => ({
    name: `projects/${PROJECT_NUMBER}/secrets/${String(inputs.secret).split("/").pop()}/versions/1`,
    version: "1",
  }),
  "gcp:secretmanager/secretIamMember:SecretIamMember": () => ({ etag: "etag" }),
  "gcp:sql/databaseInstance:DatabaseInstance": (inputs) => ({
    connectionName: `${inputs.project}:${inputs.region}:${inputs.name}`,
  }),
  "gcp:sql/database:Database": () => ({}),
  "gcp:sql/user:User": () => ({}),
  "gcp:storage/bucket:Bucket": (inputs) => ({ url: `gs://${inputs.name}` }),
  "gcp:storage/bucketObject:BucketObject": (inputs) => ({ mediaLink: `https://storage/${inputs.name}` }),
  "gcp:cloudfunctionsv2/function:Function": (inputs) => ({
    url: `https://${inputs.location}-${inputs.project}.cloudfunctions.net/${inputs.name}`,
    serviceConfig: {
      ...inputs.serviceConfig,
      service: `projects/${inputs.project}/locations/${inputs.location}/services/${inputs.name}`,
      uri: `https://${inputs.name}-x7y2k3-ew.a.run.app`,
    },
  }),
  "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": () => ({ etag: "etag" }),
  "gcp:cloudscheduler/job:Job": () => ({ state: "ENABLED" }),
  "gcp:monitoring/notificationChannel:NotificationChannel": (_inputs, name) => ({
    name: `projects/${PROJECT}/notificationChannels/${name}`,
  }),
  "gcp:logging/metric:Metric": () => ({}),
  "gcp:monitoring/alertPolicy:AlertPolicy": (_inputs, name) => ({
    name: `projects/${PROJECT}/alertPolicies/${name}`,
  }),
  "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": (_inputs, name) => ({
    uptimeCheckId: `${name}-id`,
    name: `projects/${PROJECT}/uptimeCheckConfigs/${name}-id`,
  }),
  "scheduled-jobs:index:ScheduledJob": () => ({}),
  "scheduled-jobs:index:DeadManCheck": () => ({}),
};

export const recorded: RecordedResource[] = [];

/**
 * Strict mocks: a resource of a type `table` does not list, or a call `invokes` does not answer,
 * fails the program; every resource is recorded in `sink` with the outputs `table` synthesizes.
 */
export function strictMocks(
  table: Readonly<Record<string, Synthesizer>>,
  invokes: InvokeAnswers,
  sink: RecordedResource[],
  idOf: (state: Inputs, name: string, type: string) => string = (state, name) =>
    typeof state.name === "string" ? state.name : `${name}-id`,
): pulumi.runtime.Mocks {
  return {
    newResource(args) {
      const make = table[args.type];
      if (!make)
        throw new Error(`the program created a resource of a type the tests do not know: ${args.type}`);
      const state = { ...args.inputs, ...make(args.inputs, args.name) };
      sink.push({ type: args.type, name: args.name, inputs: args.inputs, state });
      return { id: idOf(state, args.name, args.type), state };
    },
    call(args) {
      const answer = invokes[args.token];
      if (!answer) throw new Error(`the program called a function the tests do not know: ${args.token}`);
      return answer(args.inputs as Inputs);
    },
  };
}

const mocks = strictMocks(
  synthesize,
  {
    "gcp:organizations/getProject:getProject": (args) => ({
      projectId: args.projectId,
      number: PROJECT_NUMBER,
      name: args.projectId,
    }),
  },
  recorded,
);

/** A stand-in for `npm run build`'s output. */
export function fakeBundle(content = "exports.x = 1;\n"): string {
  const dir = mkdtempSync(join(tmpdir(), "sj-infra-bundle-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.js"), content);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "fn", dependencies: {} }));
  return dir;
}

export const SENDGRID_KEY = `SG.test-${Math.random().toString(36).slice(2)}.${Math.random().toString(36).slice(2)}`;

export function baseConfig(sourceDir: string, extra: Record<string, unknown> = {}): RawConfig {
  return {
    project: PROJECT,
    region: REGION,
    alertEmail: "ops@example.com",
    mailFrom: "no-reply@example.com",
    database: { create: true, databaseName: "delivery_app" },
    // The catalog's http task calls this target: every stack that runs it names it.
    httpTargets: {
      "app-backend": { url: "https://app-backend-123456789012.europe-west1.run.app", service: "app-backend" },
    },
    ...extra,
    function: { sourceDir, ...((extra.function as object | undefined) ?? {}) },
  };
}

export interface StackRun {
  readonly resources: RecordedResource[];
  readonly outputs: StackOutputs;
  readonly config: StackConfig;
  /** Resolved values of every output. */
  readonly values: Record<string, unknown>;
  of(type: string): RecordedResource[];
  one(type: string, name?: string): RecordedResource;
}

export async function installMocks(): Promise<void> {
  await pulumi.runtime.setMocks(mocks, "scheduled-jobs", "test", false);
}

/** Builds the stack from raw config under fresh mocks and waits until every resource is registered. */
export async function runStack(raw: RawConfig): Promise<StackRun> {
  recorded.length = 0;
  await installMocks();
  const { resolveConfig } = await import("../../infra/gcp/config.js");
  const { createStack } = await import("../../infra/gcp/stack.js");
  const config = resolveConfig(raw);
  const outputs = createStack(config, { sendgridApiKey: pulumi.secret(SENDGRID_KEY) });
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(outputs)) values[key] = await valueOf(value);
  // Drains the queue of registrations still in flight (jobs, alerts).
  await pulumi.runtime.disconnect();
  const resources = [...recorded];
  const of = (type: string) => resources.filter((resource) => resource.type === type);
  return {
    resources,
    outputs,
    config,
    values,
    of,
    one(type, name) {
      const found = of(type).filter((resource) => name === undefined || resource.name === name);
      if (found.length !== 1)
        throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}`);
      return found[0]!;
    },
  };
}

export function valueOf<T>(value: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(value).apply((resolved) => resolve(resolved as T)));
}

/** A RegisterResource request as the monitor received it, in its wire form. */
export interface WireRegistration {
  readonly type: string;
  readonly name: string;
  /** The parent's URN ("" for none). */
  readonly parent: string;
  readonly custom: boolean;
  /** The serialized inputs: secrets, unknowns and archives as Pulumi's signature objects. */
  readonly inputs: Inputs;
  /** The provider plugin version the SDK asks the engine for. */
  readonly version: string;
}

/** Invoke answers by function token, shared by the mocks and the stub engine so both answer alike. */
export type InvokeAnswers = Readonly<Record<string, (args: Inputs) => Inputs>>;

/**
 * Runs the program's entry, `infra/index.ts`, under mocks as a preview: the stack's config as the
 * engine would pass it, each registration answered with its inputs (a preview's answer for a
 * resource it would create) and recorded as the SDK serialized it. The caller resets the module
 * registry first if this test file imported the entry before.
 */
export async function previewEntryUnderMocks(
  config: Readonly<Record<string, string>>,
  secretKeys: readonly string[],
  invokes: InvokeAnswers,
  stack: string,
): Promise<{ registrations: WireRegistration[]; exports: string[] }> {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({ id: undefined, state: args.inputs }),
      call(args) {
        const answer = invokes[args.token];
        if (!answer) throw new Error(`the program called a function the tests do not know: ${args.token}`);
        return answer(args.inputs as Inputs);
      },
    },
    "scheduled-jobs",
    stack,
    true,
  );
  const registrations: WireRegistration[] = [];
  // The mock monitor receives the same RegisterResourceRequest the engine would; record it there.
  type Request = {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getVersion(): string;
    getObject(): { toJavaScript(): Inputs } | undefined;
  };
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(request: Request, callback: unknown): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) => {
    registrations.push({
      type: request.getType(),
      name: request.getName(),
      parent: request.getParent(),
      custom: request.getCustom(),
      inputs: request.getObject()?.toJavaScript() ?? {},
      version: request.getVersion(),
    });
    register(request, callback);
  };
  pulumi.runtime.setAllConfig({ ...config }, [...secretKeys]);
  const program = (await import("../../infra/index.js")) as Record<string, unknown>;
  await pulumi.runtime.disconnect();
  return { registrations, exports: Object.keys(program).sort() };
}
