/**
 * Starts a Pulumi program the way Pulumi's Node.js language host does, against a stub engine and
 * resource monitor served over gRPC, and records what the program told them.
 *
 * What the language host does (github.com/pulumi/pulumi, sdk/nodejs/cmd/pulumi-language-nodejs/main.go,
 * `Run`, `execRuntime`, `constructArguments`, `constructConfig`):
 *   node <Pulumi.yaml runtime.options.nodeargs, shell-split> <require.resolve("@pulumi/pulumi/cmd/run")>
 *     --monitor <addr> --engine <addr> --sync <pipes dir> --organization <org> --project <name>
 *     --root-directory <dir of Pulumi.yaml> --stack <stack> --pwd <program dir> [--dry-run]
 *     --parallel <n> <entry point>
 * with the CLI's environment plus PULUMI_CONFIG (the RunRequest's config as JSON, keys rewritten to
 * `<namespace>:config:<name>`), PULUMI_CONFIG_SECRET_KEYS (the secret keys as JSON), and
 * PULUMI_NODEJS_TYPESCRIPT=true unless `typescript: false`. The program directory and entry point
 * come from Pulumi.yaml's `main` (pkg/engine `getPwdMain`): a file's directory and base name, or the
 * directory and ".". The language host proxies the monitor without changing a message, so the
 * program talks to the stub exactly as it would to the engine.
 *
 * The stub is a preview: it answers each registration with its inputs and no id, as the engine
 * does for a resource it would create, and answers invokes from the caller's table.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import type * as grpcTypes from "@grpc/grpc-js";
import type { IEngineServer } from "@pulumi/pulumi/proto/engine_grpc_pb.js";
import type * as engineProto from "@pulumi/pulumi/proto/engine_pb.js";
import type { IResourceMonitorServer } from "@pulumi/pulumi/proto/resource_grpc_pb.js";
import type * as resourceProto from "@pulumi/pulumi/proto/resource_pb.js";
import type * as emptyProto from "google-protobuf/google/protobuf/empty_pb.js";
import type * as structProto from "google-protobuf/google/protobuf/struct_pb.js";
import { parse as parseYaml } from "yaml";
import * as pulumi from "@pulumi/pulumi";
import type { Inputs, InvokeAnswers, WireRegistration } from "./harness.js";
import type { RunConfig } from "./stack-file.js";

// The gRPC library and generated protos that @pulumi/pulumi itself loads, so the stub speaks the
// same wire format as the SDK it serves.
const pulumiRequire = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi"));
const grpc = pulumiRequire("@grpc/grpc-js") as typeof grpcTypes;
const resproto = pulumiRequire("./proto/resource_pb.js") as typeof resourceProto;
const engproto = pulumiRequire("./proto/engine_pb.js") as typeof engineProto;
const { ResourceMonitorService } = pulumiRequire("./proto/resource_grpc_pb.js") as {
  ResourceMonitorService: grpcTypes.ServiceDefinition;
};
const { EngineService } = pulumiRequire("./proto/engine_grpc_pb.js") as {
  EngineService: grpcTypes.ServiceDefinition;
};
const { Struct } = pulumiRequire("google-protobuf/google/protobuf/struct_pb.js") as typeof structProto;
const { Empty } = pulumiRequire("google-protobuf/google/protobuf/empty_pb.js") as typeof emptyProto;

/** The organization the engine names for a self-managed backend (`pulumi login --local`, a bucket). */
export const ORGANIZATION = "organization";

/** One RegisterResource call, as the monitor received it, and the URN the engine gave it. */
export interface Registration extends WireRegistration {
  readonly urn: string;
}

export interface LogEntry {
  readonly severity: "debug" | "info" | "warning" | "error";
  readonly message: string;
  readonly urn: string;
}

export interface ProgramRun {
  /** Set when Pulumi would refuse to start the program at all (Pulumi.yaml unusable). */
  readonly launchError?: string;
  readonly command: readonly string[];
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Killed at PreviewOptions.timeoutMs without having exited. */
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly logs: readonly LogEntry[];
  readonly registrations: readonly Registration[];
  /** RegisterResourceOutputs by URN (the stack's are its exports). */
  readonly outputs: ReadonlyMap<string, Inputs>;
  readonly invokes: readonly { token: string; args: Inputs }[];
  /** The environment the program was started with (the config variables, for assertions). */
  readonly env: Readonly<Record<string, string>>;
}

export interface PreviewOptions {
  /** The directory of Pulumi.yaml. */
  readonly root: string;
  /** Pulumi.yaml's text; by default the file in `root`. A test passes an edited copy. */
  readonly projectYaml?: string;
  readonly stack: string;
  readonly config: RunConfig;
  /** A token not listed fails the invoke, as a function the provider does not have would. */
  readonly invokes: InvokeAnswers;
  readonly timeoutMs: number;
}

interface ProjectFile {
  readonly name: string;
  readonly runtime: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly main?: string;
}

function parseProject(text: string): ProjectFile {
  const parsed = parseYaml(text) as Record<string, unknown> | null;
  if (!parsed || typeof parsed.name !== "string") throw new Error("Pulumi.yaml has no name");
  const runtime = parsed.runtime;
  const name = typeof runtime === "string" ? runtime : (runtime as { name?: unknown } | undefined)?.name;
  if (typeof name !== "string") throw new Error("Pulumi.yaml has no runtime name");
  const options =
    typeof runtime === "object" && runtime !== null
      ? (((runtime as { options?: unknown }).options ?? {}) as Record<string, unknown>)
      : {};
  return {
    name: parsed.name,
    runtime: name,
    options,
    ...(typeof parsed.main === "string" ? { main: parsed.main } : {}),
  };
}

/** pkg/engine `getPwdMain`: the program's directory and the entry point passed to `cmd/run`. */
function pwdAndEntry(root: string, main: string | undefined): { pwd: string; entry: string } {
  if (main === undefined || main === "") return { pwd: root, entry: "." };
  if (isAbsolute(main)) throw new Error("project 'main' must be a relative path");
  const target = resolve(root, main);
  if (relative(root, target).startsWith("..")) throw new Error("project 'main' must be a subfolder");
  if (!existsSync(target)) throw new Error(`project 'main' could not be read: ${target}`);
  return statSync(target).isDirectory()
    ? { pwd: target, entry: "." }
    : { pwd: dirname(target), entry: basename(target) };
}

/** The shell-word split the host applies to `nodeargs` (github.com/google/shlex): spaces, quotes. */
export function splitNodeArgs(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
      else word = (word ?? "") + char;
    } else if (char === '"' || char === "'") {
      quote = char;
      word ??= "";
    } else if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? "") + char;
    }
  }
  if (quote) throw new Error(`unterminated quote in nodeargs: ${text}`);
  if (word !== undefined) words.push(word);
  return words;
}

const SEVERITY: Record<number, LogEntry["severity"]> = {
  [engproto.LogSeverity.DEBUG]: "debug",
  [engproto.LogSeverity.INFO]: "info",
  [engproto.LogSeverity.WARNING]: "warning",
  [engproto.LogSeverity.ERROR]: "error",
};

/**
 * The engine's URN: the parent's type chain joined by `$`, the root stack's type left out
 * (sdk/go/common/resource/urn.go).
 */
function urnOf(stack: string, project: string, parent: string, type: string, name: string): string {
  const parentType = parent === "" ? "" : (parent.split("::")[2] ?? "");
  const qualified =
    parentType === "" || parentType === "pulumi:pulumi:Stack" ? type : `${parentType}$${type}`;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/**
 * The legacy feature ids the engine answers yes to (pkg/resource/deploy/source_eval.go,
 * `SupportsFeature`); the SDK asks these when GetDeploymentInfo is not implemented, as here.
 */
const SUPPORTED_FEATURES = new Set([
  "secrets",
  "resourceReferences",
  "outputValues",
  "aliasSpecs",
  "deletedWith",
  "transforms",
  "invokeTransforms",
]);

async function serve(
  service: grpcTypes.ServiceDefinition,
  implementation: grpcTypes.UntypedServiceImplementation,
): Promise<{ server: grpcTypes.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(service, implementation);
  const port = await new Promise<number>((done, fail) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? fail(error) : done(bound),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

/** Runs `pulumi preview`'s program half: the program under the language host's command line. */
export async function previewProgram(options: PreviewOptions): Promise<ProgramRun> {
  const registrations: Registration[] = [];
  const logs: LogEntry[] = [];
  const outputs = new Map<string, Inputs>();
  const invokes: { token: string; args: Inputs }[] = [];
  const failed = (launchError: string): ProgramRun => ({
    launchError,
    command: [],
    exitCode: null,
    signal: null,
    timedOut: false,
    stdout: "",
    stderr: "",
    logs,
    registrations,
    outputs,
    invokes,
    env: {},
  });

  let project: ProjectFile;
  let location: { pwd: string; entry: string };
  let nodeargs: string[];
  try {
    project = parseProject(options.projectYaml ?? readFileSync(join(options.root, "Pulumi.yaml"), "utf8"));
    if (project.runtime !== "nodejs") throw new Error(`runtime ${project.runtime} is not nodejs`);
    location = pwdAndEntry(options.root, project.main);
    const { nodeargs: text = "" } = project.options;
    if (typeof text !== "string") throw new Error("nodeargs option must be a string");
    nodeargs = splitNodeArgs(text);
  } catch (error) {
    return failed((error as Error).message);
  }

  let rootResource = "";
  const engine: Partial<IEngineServer> = {
    log(call, callback) {
      const request = call.request;
      logs.push({
        severity: SEVERITY[request.getSeverity()] ?? "info",
        message: request.getMessage(),
        urn: request.getUrn(),
      });
      callback(null, new Empty());
    },
    getRootResource(_call, callback) {
      const response = new engproto.GetRootResourceResponse();
      response.setUrn(rootResource);
      callback(null, response);
    },
    setRootResource(call, callback) {
      rootResource = call.request.getUrn();
      callback(null, new engproto.SetRootResourceResponse());
    },
  };
  const monitor: Partial<IResourceMonitorServer> = {
    supportsFeature(call, callback) {
      const response = new resproto.SupportsFeatureResponse();
      response.setHassupport(SUPPORTED_FEATURES.has(call.request.getId()));
      callback(null, response);
    },
    registerResource(call, callback) {
      const request = call.request;
      const inputs = (request.getObject()?.toJavaScript() ?? {}) as Inputs;
      const urn = urnOf(
        options.stack,
        project.name,
        request.getParent(),
        request.getType(),
        request.getName(),
      );
      registrations.push({
        type: request.getType(),
        name: request.getName(),
        urn,
        parent: request.getParent(),
        custom: request.getCustom(),
        inputs,
        version: request.getVersion(),
      });
      const response = new resproto.RegisterResourceResponse();
      response.setUrn(urn);
      // A resource a preview would create has no id yet; its outputs are its inputs.
      response.setId("");
      response.setObject(Struct.fromJavaScript(inputs));
      callback(null, response);
    },
    registerResourceOutputs(call, callback) {
      outputs.set(call.request.getUrn(), (call.request.getOutputs()?.toJavaScript() ?? {}) as Inputs);
      callback(null, new Empty());
    },
    invoke(call, callback) {
      const token = call.request.getTok();
      const args = (call.request.getArgs()?.toJavaScript() ?? {}) as Inputs;
      invokes.push({ token, args });
      const answer = options.invokes[token];
      if (!answer) {
        callback({
          code: grpc.status.INVALID_ARGUMENT,
          details: `the stub engine knows no function ${token}`,
        });
        return;
      }
      const response = new resproto.ResourceInvokeResponse();
      response.setReturn(Struct.fromJavaScript(answer(args)));
      callback(null, response);
    },
    signalAndWaitForShutdown(_call, callback) {
      callback(null, new Empty());
    },
  };

  const engineServer = await serve(EngineService, engine as grpcTypes.UntypedServiceImplementation);
  const monitorServer = await serve(
    ResourceMonitorService,
    monitor as grpcTypes.UntypedServiceImplementation,
  );
  // The host always passes a directory for synchronous invokes; this SDK never opens it.
  const pipes = mkdtempSync(join(tmpdir(), "sj-langhost-pipes-"));

  try {
    const runPath = createRequire(join(location.pwd, "noop.js")).resolve("@pulumi/pulumi/cmd/run");
    const command = [
      ...nodeargs,
      runPath,
      "--monitor",
      monitorServer.address,
      "--engine",
      engineServer.address,
      "--sync",
      pipes,
      "--organization",
      ORGANIZATION,
      "--project",
      project.name,
      "--root-directory",
      options.root,
      "--stack",
      options.stack,
      "--pwd",
      location.pwd,
      "--dry-run",
      "--parallel",
      "16",
      location.entry,
    ];
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.config.config)) {
      const colon = key.indexOf(":");
      config[`${key.slice(0, colon)}:config:${key.slice(colon + 1)}`] = value;
    }
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      // The test runner's own settings are not the CLI's: a NODE_OPTIONS with a loader would hide
      // a Pulumi.yaml without one.
      if (value !== undefined && key !== "NODE_OPTIONS" && !key.startsWith("VITEST")) env[key] = value;
    }
    env.PULUMI_CONFIG = JSON.stringify(config);
    env.PULUMI_CONFIG_SECRET_KEYS = JSON.stringify(options.config.secretKeys);
    if (project.options.typescript !== false) env.PULUMI_NODEJS_TYPESCRIPT = "true";

    const child: ChildProcess = spawn(process.execPath, command, {
      cwd: options.root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) =>
      child.on("close", (code, killed) => done([code, killed])),
    );
    clearTimeout(timer);
    return {
      command,
      exitCode,
      signal,
      timedOut,
      stdout,
      stderr,
      logs,
      registrations,
      outputs,
      invokes,
      env,
    };
  } finally {
    engineServer.server.forceShutdown();
    monitorServer.server.forceShutdown();
    rmSync(pipes, { recursive: true, force: true });
  }
}

/** `type::name` of a URN, "" for the stack (the root under the mocks, which have no stack resource). */
export function parentKey(urn: string): string {
  if (urn === "") return "";
  const [, , qualifiedType = "", name = ""] = urn.split("::");
  const type = qualifiedType.split("$").pop() ?? "";
  return type === "pulumi:pulumi:Stack" ? "" : `${type}::${name}`;
}

export interface Comparable {
  readonly key: string;
  readonly registration: WireRegistration;
}

export function comparable(registrations: readonly WireRegistration[]): Comparable[] {
  return registrations
    .filter((registration) => registration.type !== "pulumi:pulumi:Stack")
    .map((registration) => ({
      key: `${registration.type}::${registration.name} (parent ${parentKey(registration.parent) || "stack"})`,
      registration,
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** The first path at which two wire values differ, or undefined. */
export function firstDifference(a: unknown, b: unknown, path = ""): string | undefined {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) {
    return `${path || "(value)"}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  if (typeof a !== "object" || a === null) {
    return a === b ? undefined : `${path || "(value)"}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
    const found = firstDifference(left[key], right[key], `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

export interface Expected {
  readonly registrations: readonly WireRegistration[];
  readonly exports: readonly string[];
}

/**
 * Everything that keeps a run of `project`'s program on `stack` from being the deployment the mocks
 * describe (`expected`: what the entry registered and exported under them); empty when it is.
 */
export function programProblems(
  run: ProgramRun,
  expected: Expected,
  options: { readonly project: string; readonly stack: string; readonly timeoutMs: number },
): string[] {
  const { project, stack, timeoutMs } = options;
  if (run.launchError !== undefined) return [`Pulumi would not start the program: ${run.launchError}`];
  const problems: string[] = [];
  if (run.timedOut) problems.push(`the program did not exit within ${timeoutMs} ms`);
  else if (run.exitCode !== 0) problems.push(`the program exited with ${run.exitCode ?? run.signal}`);
  for (const log of run.logs.filter((entry) => entry.severity === "error" || entry.severity === "warning")) {
    problems.push(`the engine logged ${log.severity === "error" ? "an error" : "a warning"}: ${log.message}`);
  }
  const stacks = run.registrations.filter((registration) => registration.type === "pulumi:pulumi:Stack");
  if (
    stacks.length !== 1 ||
    stacks[0]?.name !== `${project}-${stack}` ||
    run.registrations[0] !== stacks[0]
  ) {
    problems.push(`expected the stack ${project}-${stack} registered first, once`);
  }
  const actual = new Map(comparable(run.registrations).map((entry) => [entry.key, entry.registration]));
  const wanted = new Map(comparable(expected.registrations).map((entry) => [entry.key, entry.registration]));
  for (const [key, registration] of wanted) {
    const got = actual.get(key);
    if (!got) {
      problems.push(`not registered: ${key}`);
      continue;
    }
    const difference =
      firstDifference(got.inputs, registration.inputs, "inputs") ??
      firstDifference(
        { custom: got.custom, version: got.version },
        { custom: registration.custom, version: registration.version },
      );
    if (difference) problems.push(`${key} differs from the mocks at ${difference}`);
  }
  for (const key of actual.keys())
    if (!wanted.has(key)) problems.push(`registered, not under the mocks: ${key}`);
  const stackOutputs = stacks[0] ? run.outputs.get(stacks[0].urn) : undefined;
  const exported = Object.keys(stackOutputs ?? {}).sort();
  if (JSON.stringify(exported) !== JSON.stringify(expected.exports)) {
    problems.push(
      `stack outputs ${exported.join(", ") || "(none)"}; the entry exports ${expected.exports.join(", ")}`,
    );
  }
  return problems;
}

/** Every string in a wire value that contains `needle`, with whether it sits inside a secret. */
export function occurrences(value: unknown, needle: string, inSecret = false): { secret: boolean }[] {
  if (typeof value === "string") return value.includes(needle) ? [{ secret: inSecret }] : [];
  if (Array.isArray(value)) return value.flatMap((item) => occurrences(item, needle, inSecret));
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const secret = inSecret || record[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
    return Object.values(record).flatMap((item) => occurrences(item, needle, secret));
  }
  return [];
}
