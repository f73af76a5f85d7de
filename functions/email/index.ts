/**
 * The email tasks' entry point, imported with a dynamic `import()` only when an email task runs, so
 * SQL requests never load SendGrid, a secret store's client or this code (each adapter's app.ts):
 *
 *   loadEmailHandler: (task) => import("../email/index.js").then((email) => email.loadEmailHandler(task))
 */
import type { TaskDefinition } from "../core/catalog.js";
import type { Env } from "../core/config/function-config.js";
import { parseEmailEnv } from "../core/config/function-config.js";
import type { EmailTaskHandler } from "../core/run/task-contract.js";
import type { EmailConfig } from "../core/config/email-config.js";
import { EmailConfigError } from "../core/config/email-config.js";
import type { EmailRuntime, EmailRuntimeOptions } from "./runtime.js";
import { createEmailRuntime } from "./runtime.js";

export type { EmailConfig } from "../core/config/email-config.js";
export { EmailConfigError } from "../core/config/email-config.js";
export type { EmailRuntime, EmailRuntimeOptions } from "./runtime.js";
export { createEmailRuntime } from "./runtime.js";

let runtime: EmailRuntime | undefined;

/** The email settings of this environment, read as the function reads them; throws EmailConfigError. */
export function readEmailConfig(env: Env): EmailConfig {
  const { config, problems } = parseEmailEnv(env);
  if (!config) throw new EmailConfigError(problems);
  return config;
}

/**
 * Sets this instance's email settings (the function's config module calls it with what it parsed at
 * cold start). Without it, the first email task reads them from the process environment.
 */
export function configureEmail(options: EmailConfig | EmailRuntimeOptions): void {
  runtime = createEmailRuntime("config" in options ? options : { config: options });
}

/** The handler the runner calls for an email task; the key and the SDK are kept for the instance. */
export function loadEmailHandler(task: TaskDefinition): Promise<EmailTaskHandler> {
  runtime ??= createEmailRuntime({ config: readEmailConfig(process.env) });
  return runtime.handlerFor(task);
}
