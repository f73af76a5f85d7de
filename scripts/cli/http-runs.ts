/**
 * What a direct run of an http task calls with (`run --direct`, `npm run task`, a direct backfill
 * or replay). The call leaves this machine for the target, so it needs what the function has: the
 * stack's targets, from this environment's HTTP_TARGETS (read by the function's own rule, the one
 * env table), and a proof of a service account, from google-auth-library's ID-token client. A
 * person's gcloud credentials are refused: their token names that person, not the function's
 * account that the target grants `roles/run.invoker`. The ways to be a service account here: the
 * metadata server (a Google Cloud VM's account), `gcloud auth application-default login
 * --impersonate-service-account <account>`
 * (https://cloud.google.com/docs/authentication/use-service-account-impersonation#adc), or a key
 * in GOOGLE_APPLICATION_CREDENTIALS. When neither is there, nothing runs and the error says what
 * to do, the other way included: through the function, which has both.
 */
import type { HttpTargets } from "../../functions/core/config/http-targets.js";
import { readVariable } from "../../functions/core/config/environment.js";
import type { HttpAuthorizer, HttpDeps } from "../../functions/core/run/http-contract.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { ToolError } from "../lib/exit-codes.js";
import type { Io } from "./io.js";
import { CLI } from "./io.js";

/** The ways through a function, which has the stack's targets and its own account. */
function throughFunction(task: string): string {
  return `or run it through the function: \`${CLI} run ${task}\` (no --direct) or \`${CLI} force-run ${task}\` while npm start runs, \`gcloud scheduler jobs run ${task} --location <region>\` on a deployed stack`;
}

function readTargets(io: Io): HttpTargets {
  const problems: string[] = [];
  const targets = readVariable(io.env, "HTTP_TARGETS", problems);
  if (problems.length > 0 || !targets) throw new ToolError("usage", problems.join("; "));
  return targets;
}

async function serviceAccountAuthorizer(task: string, key: string): Promise<HttpAuthorizer> {
  try {
    const { googleIdTokenAuthorizer } = await import("../../functions/gcp/id-token.js");
    return await googleIdTokenAuthorizer({ serviceAccountOnly: true });
  } catch (error) {
    throw new ToolError(
      "error",
      `${task} calls ${key} as a service account, with an ID token for its audience, and there is none to call as here: ${(error as Error).message.replace(/\.$/, "")}. To call as the function's account: gcloud auth application-default login --impersonate-service-account "$(pulumi stack output runtimeServiceAccount)" (with roles/iam.serviceAccountTokenCreator on it); ${throughFunction(task)}`,
    );
  }
}

/**
 * The http settings of direct runs: each task's target checked and, unless the run is dry (which
 * calls nothing), the identity found before the run is opened, so a run that cannot call records
 * nothing. Read once per CLI command; the authorizer keeps its tokens for a backfill's next run.
 */
export function directHttp(io: Io): (task: Job, dryRun: boolean) => Promise<HttpDeps> {
  let targets: HttpTargets | undefined;
  let authorizer: Promise<HttpAuthorizer> | undefined;
  return async (task, dryRun) => {
    targets ??= readTargets(io);
    const key = task.http?.target ?? "";
    if (!targets[key]) {
      throw new ToolError(
        "error",
        `${task.name} calls ${JSON.stringify(key)}, which HTTP_TARGETS does not name: a direct run calls it from here, so set HTTP_TARGETS to the stack's scheduled-jobs:httpTargets as JSON (e.g. HTTP_TARGETS='{"${key}":{"url":"https://${key}-123456789012.europe-west1.run.app"}}'); ${throughFunction(task.name)}`,
      );
    }
    const load = (): Promise<HttpAuthorizer> => (authorizer ??= serviceAccountAuthorizer(task.name, key));
    if (!dryRun) {
      // A failed look is not kept: the next command looks again.
      await load().catch((error: unknown) => {
        authorizer = undefined;
        throw error;
      });
    }
    return { targets, loadAuthorizer: load };
  };
}
