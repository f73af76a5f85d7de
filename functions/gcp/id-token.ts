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

export async function googleIdTokenAuthorizer(): Promise<HttpAuthorizer> {
  const { GoogleAuth } = await import("google-auth-library");
  const auth = new GoogleAuth();
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
