/**
 * The built Lambda (dist/lambda/index.mjs) run as Lambda runs it, on this machine: each instance is
 * a child process that loads the bundle once (its init, with its own environment) and then runs one
 * invoke at a time; an invoke takes an idle instance or starts another, up to a limit. A child
 * process rather than an import into this process: the bundle reads its environment at load, as on
 * Lambda, so it must not see (or change) the caller's; an instance can crash, and be stopped, with
 * what it runs; and what runs is the deployable file itself.
 *
 * A thrown error comes back as the Node.js runtime reports it (`errorType`, `errorMessage`, `trace`
 * from the error's stack: aws-lambda-nodejs-runtime-interface-client, src/utils/error.ts), so the
 * caller sees what Lambda would show.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { childEnv, forwardLines } from "./child-env.js";

/** What the runtime reports for a function error. */
interface FunctionError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

export type InvokeResult =
  { readonly ok: true; readonly payload: unknown } | { readonly ok: false; readonly error: FunctionError };

interface LocalLambdaOptions {
  /** The bundle's entry: dist/lambda/index.mjs. */
  readonly entry: string;
  /** The function's environment (nothing else of this process's reaches it but PATH and the clock). */
  readonly env: Readonly<Record<string, string>>;
  /** Instances at most (Lambda's concurrency); an invoke beyond it waits for one to be free. */
  readonly maxInstances?: number;
  /** Each line an instance writes (the function's structured logs). */
  readonly onLine?: (line: string) => void;
}

/** The instance's side: load the bundle, then answer each invoke the parent sends. */
const instanceSource = `
const { handler } = await import(process.argv[1]);
const formatted = (error) =>
  error instanceof Error
    ? { errorType: error.name, errorMessage: error.message, trace: error.stack?.split("\\n") ?? [] }
    : { errorType: typeof error, errorMessage: String(error), trace: [] };
process.on("message", async ({ id, event, requestId }) => {
  try {
    const payload = await handler(event, { awsRequestId: requestId });
    process.send({ id, ok: true, payload: payload === undefined ? null : JSON.parse(JSON.stringify(payload)) });
  } catch (error) {
    process.send({ id, ok: false, error: formatted(error) });
  }
});
process.send({ ready: true });
`;

interface Instance {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  busy: boolean;
  pending: ((result: InvokeResult) => void) | undefined;
}

export class LocalLambda {
  private readonly instances = new Set<Instance>();
  private readonly waiting: ((instance: Instance) => void)[] = [];
  private stopped = false;

  constructor(private readonly options: LocalLambdaOptions) {}

  /** Instances started so far and still alive (each was a cold start). */
  get instanceCount(): number {
    return this.instances.size;
  }

  /** A synchronous invoke (RequestResponse): the handler's value, or its error as the runtime reports it. */
  async invoke(event: unknown, requestId: string = randomUUID()): Promise<InvokeResult> {
    const instance = await this.acquire();
    try {
      return await new Promise<InvokeResult>((resolve) => {
        instance.pending = resolve;
        instance.child.send({ id: requestId, event, requestId });
      });
    } finally {
      instance.pending = undefined;
      this.release(instance);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.instances].map((instance) => stopInstance(instance.child)));
  }

  private async acquire(): Promise<Instance> {
    if (this.stopped) throw new Error("the local Lambda is stopped");
    const idle = [...this.instances].find((instance) => !instance.busy);
    const instance =
      idle ??
      (this.instances.size < (this.options.maxInstances ?? 4)
        ? this.start()
        : await new Promise<Instance>((resolve) => this.waiting.push(resolve)));
    instance.busy = true;
    await instance.ready;
    return instance;
  }

  private release(instance: Instance): void {
    instance.busy = false;
    if (!this.instances.has(instance)) return;
    const next = this.waiting.shift();
    if (next) next(instance);
  }

  private start(): Instance {
    const child = spawn(process.execPath, ["--input-type=module", "-e", instanceSource, this.options.entry], {
      env: childEnv({ ...this.options.env }),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    forwardLines(child, this.options.onLine);
    let markReady: () => void = () => undefined;
    let fail: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      fail = reject;
    });
    const instance: Instance = { child, ready, busy: false, pending: undefined };
    child.on("message", (message: { ready?: true } & Partial<InvokeResult>) => {
      if (message.ready) markReady();
      else instance.pending?.(message as InvokeResult);
    });
    child.once("exit", (code, signal) => {
      this.instances.delete(instance);
      const why = `the instance exited (${signal ?? `code ${code}`}) ${instance.pending ? "during the invoke" : "before it was ready"}`;
      fail(new Error(why));
      // Lambda reports a process that dies mid-invoke as Runtime.ExitError.
      instance.pending?.({
        ok: false,
        error: { errorType: "Runtime.ExitError", errorMessage: why, trace: [] },
      });
      // An invoke waiting for a free instance gets a new one in its place.
      const next = this.stopped ? undefined : this.waiting.shift();
      if (next) next(this.start());
    });
    this.instances.add(instance);
    return instance;
  }
}

async function stopInstance(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
