/**
 * The Lambda's wiring, as a factory: `functions/aws/index.ts` exports the handler it returns, and
 * the local EventBridge emulation and the tests build the very same handler from an environment
 * of their own. The environment is read once, here; with any problem in it every invoke is
 * refused (fail closed, and retried as Google's 503 is) and the log says what to fix, one line per
 * problem.
 */
import type { Env } from "../core/config/function-config.js";
import type { PoolProvider } from "../core/db/pool-provider.js";
import { createPoolProvider } from "../core/db/pool-provider.js";
import { publicMessage } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { createLogger } from "../core/log.js";
import type { HttpDeps } from "../core/run/http-contract.js";
import type { RunnerDeps } from "../core/run/run-request.js";
import { runTask } from "../core/run/runner.js";
import type { LambdaConfig } from "./config.js";
import { parseLambdaConfig } from "./config.js";
import type { LambdaHandler } from "./handler.js";
import { createLambdaHandler, createRefusingLambdaHandler } from "./handler.js";

interface LambdaFunctionOptions {
  readonly env: Env;
  readonly log?: Logger;
  /**
   * How email tasks load their handler; by default the email module, imported on the first email
   * task (SendGrid and the Secrets Manager client load only then) and given the settings parsed
   * at cold start.
   */
  readonly loadEmailHandler?: RunnerDeps["loadEmailHandler"];
  /**
   * How http tasks prove the function to their target; by default a SigV4 signature as the
   * function's role (./sigv4.ts), loaded on the first http task's run.
   */
  readonly loadHttpAuthorizer?: HttpDeps["loadAuthorizer"];
  readonly now?: () => Date;
}

interface LambdaFunction {
  readonly handler: LambdaHandler;
  /** Undefined when the environment has problems (then `handler` refuses every invoke). */
  readonly config: LambdaConfig | undefined;
  readonly problems: readonly string[];
  /** Closes the instance's pool, if one was opened. */
  close(): Promise<void>;
}

export function createLambdaFunction(options: LambdaFunctionOptions): LambdaFunction {
  const log = options.log ?? createLogger();
  const { config, problems, warnings } = parseLambdaConfig(options.env);
  for (const warning of warnings) log.warn(`configuration: ${warning}`);
  if (!config) {
    for (const problem of problems) log.error(`configuration: ${problem}`);
    log.error(
      `the function refuses every invoke until its configuration is fixed (${problems.length} problem${problems.length === 1 ? "" : "s"})`,
    );
    return {
      handler: createRefusingLambdaHandler(log),
      config: undefined,
      problems,
      close: async () => undefined,
    };
  }
  const pools: PoolProvider = createPoolProvider(config.database, config.poolMax, log);
  const handler = createLambdaHandler({
    jobs: config.jobs,
    scheduleGroupArn: config.scheduleGroupArn,
    pool: () => pools.get(),
    runTask,
    log,
    loadEmailHandler: options.loadEmailHandler ?? emailLoader(config),
    http: {
      targets: config.httpTargets,
      loadAuthorizer:
        options.loadHttpAuthorizer ??
        (async () => (await import("./sigv4.js")).sigv4Authorizer({ region: config.region })),
    },
    ...(options.now ? { now: options.now } : {}),
  });
  // After the module has loaded, the driver loads and the first connection opens in the
  // background, during Lambda's init phase: the invoke that started the instance needs both.
  setImmediate(() => {
    pools.preload().catch((error: unknown) =>
      log.warn("could not open the first database connection at start; the first invoke tries again", {
        error: publicMessage(error),
      }),
    );
  });
  return { handler, config, problems, close: () => pools.end() };
}

/** The email module, loaded by the first email task and configured with the settings read at cold start. */
function emailLoader(config: LambdaConfig): NonNullable<RunnerDeps["loadEmailHandler"]> {
  let configured = false;
  return async (task) => {
    const email = await import("../email/index.js");
    if (!configured) {
      email.configureEmail(config.email);
      configured = true;
    }
    return email.loadEmailHandler(task);
  };
}
