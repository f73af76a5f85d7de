/**
 * The production wiring of the function, as a factory: `functions/gcp/index.ts` registers what it
 * returns with the framework, and a local server (npm start) can build the very same handler from
 * its own environment. The environment is read once, here; with any problem in it every request
 * is refused (fail closed) and the log says what to fix, one line per problem.
 */
import type { AuthDeps } from "./auth.js";
import { createAuthenticator } from "./auth.js";
import type { Env, FunctionConfig } from "../core/config/function-config.js";
import { parseConfig, projectIdOf } from "../core/config/function-config.js";
import type { PoolProvider } from "../core/db/pool-provider.js";
import { createPoolProvider } from "../core/db/pool-provider.js";
import { answerFrameworkErrorsAsJson } from "./framework-errors.js";
import type { Logger } from "../core/log.js";
import { publicMessage } from "../core/errors.js";
import { createLogger } from "../core/log.js";
import type { Handler } from "./router.js";
import { createHandler, createRefusingHandler, MAX_BODY_BYTES } from "./router.js";
import type { HttpDeps } from "../core/run/http-contract.js";
import type { RunnerDeps } from "../core/run/runner.js";
import { runTask } from "../core/run/runner.js";

export interface ScheduledTasksOptions {
  readonly env: Env;
  readonly log?: Logger;
  /**
   * How email tasks load their handler; by default the email module, imported on the first email
   * task (SendGrid and Secret Manager load only then) and given the settings parsed at cold start.
   */
  readonly loadEmailHandler?: RunnerDeps["loadEmailHandler"];
  /**
   * How http tasks prove the function to their target; by default an ID token for the target's
   * audience from the metadata server (./id-token.ts), loaded on the first http task's run.
   */
  readonly loadHttpAuthorizer?: HttpDeps["loadAuthorizer"];
  /** For tests and local runs: the authenticator's fetch and clock. */
  readonly authDeps?: Omit<AuthDeps, "log">;
}

export interface ScheduledTasksFunction {
  readonly handler: Handler;
  /** Undefined when the environment has problems (then `handler` refuses every request). */
  readonly config: FunctionConfig | undefined;
  readonly problems: readonly string[];
  /** Closes the instance's pool, if one was opened. */
  close(): Promise<void>;
}

export function createScheduledTasksFunction(options: ScheduledTasksOptions): ScheduledTasksFunction {
  const log = options.log ?? createLogger();
  answerFrameworkErrorsAsJson(log, MAX_BODY_BYTES);
  const { config, problems, warnings } = parseConfig(options.env);
  for (const warning of warnings) log.warn(`configuration: ${warning}`);
  if (!config) {
    for (const problem of problems) log.error(`configuration: ${problem}`);
    log.error(
      `the function refuses every request until its configuration is fixed (${problems.length} problem${problems.length === 1 ? "" : "s"})`,
    );
    return {
      handler: createRefusingHandler(log, projectIdOf(options.env)),
      config: undefined,
      problems,
      close: async () => undefined,
    };
  }
  const pools: PoolProvider = createPoolProvider(config.database, config.poolMax, log);
  const authenticator = createAuthenticator(config.auth, { ...options.authDeps, log });
  let emailConfigured = false;
  const loadEmailHandler: NonNullable<RunnerDeps["loadEmailHandler"]> =
    options.loadEmailHandler ??
    (async (task) => {
      const email = await import("../email/index.js");
      if (!emailConfigured) {
        email.configureEmail(config.email);
        emailConfigured = true;
      }
      return email.loadEmailHandler(task);
    });
  const handler = createHandler({
    authenticator,
    jobs: config.jobs,
    pool: () => pools.get(),
    runTask,
    log,
    projectId: config.projectId,
    loadEmailHandler,
    http: {
      targets: config.httpTargets,
      loadAuthorizer:
        options.loadHttpAuthorizer ?? (async () => (await import("./id-token.js")).googleIdTokenAuthorizer()),
    },
  });
  // After the module has loaded (so the framework starts listening as early as a hello-world
  // does), the driver loads and the first connection opens in the background: the request that
  // started the instance needs both.
  setImmediate(() => {
    pools.preload().catch((error: unknown) =>
      log.warn("could not open the first database connection at start; the first request tries again", {
        error: publicMessage(error),
      }),
    );
  });
  return { handler, config, problems, close: () => pools.end() };
}
