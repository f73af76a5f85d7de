/**
 * Google's proof of the function for an http task's call: an OIDC ID token for the target's
 * audience, minted as the function's own service account by the metadata server through
 * google-auth-library's ID-token client (no key file); a Cloud Run target whose IAM grants the
 * account `roles/run.invoker` accepts it
 * (https://cloud.google.com/run/docs/authenticating/service-to-service,
 * https://cloud.google.com/docs/authentication/get-id-token#metadata-server). The client caches
 * each audience's token until shortly before it expires. google-auth-library loads here only, on
 * an http task's first run, so a SQL task's cold start never loads it.
 */
import type { IdTokenClient } from "google-auth-library";
import type { HttpAuthorizer } from "../core/run/http-contract.js";

export interface IdTokenOptions {
  /**
   * Refuse application default credentials that are a person's (`gcloud auth application-default
   * login`, google-auth-library's UserRefreshClient): the library mints an ID token from them too,
   * but it names that person, not the function's service account the target grants. For a caller
   * outside Google's runtime (the CLI's direct run); the metadata server is always an account's.
   */
  readonly serviceAccountOnly?: boolean;
}

/**
 * The authorizer. With `serviceAccountOnly` the credentials are judged first (google-auth-library
 * finds them: GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default credentials, the
 * metadata server) and it throws, saying why, when they cannot mint a token as a service account.
 */
export async function googleIdTokenAuthorizer(options: IdTokenOptions = {}): Promise<HttpAuthorizer> {
  const { GoogleAuth, UserRefreshClient } = await import("google-auth-library");
  const auth = new GoogleAuth();
  if (options.serviceAccountOnly) {
    const found = await auth.getClient();
    if (found instanceof UserRefreshClient)
      throw new Error(
        "the application default credentials here are a person's (gcloud auth application-default login): an ID token from them names that person, not a service account",
      );
    // A service account key, an impersonated account or the metadata server mint ID tokens;
    // workload identity federation's credentials do not.
    if (!("fetchIdToken" in found))
      throw new Error(`these credentials (${found.constructor.name}) cannot mint an ID token`);
  }
  const clients = new Map<string, Promise<IdTokenClient>>();
  return async (call) => {
    const { audience } = call.target;
    let client = clients.get(audience);
    if (!client) {
      client = auth.getIdTokenClient(audience);
      clients.set(audience, client);
      // A failed creation is not kept: the next run asks again.
      client.catch(() => clients.delete(audience));
    }
    const headers = await (await client).getRequestHeaders();
    const authorization = headers.get("authorization");
    if (!authorization) throw new Error(`the metadata server gave no ID token for ${audience}`);
    return { authorization };
  };
}
