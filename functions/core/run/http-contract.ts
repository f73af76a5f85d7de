/**
 * What the runner's http tasks and each platform agree on: types only. The core makes the call
 * (functions/core/run/http-call.ts); how the function proves who it is to the target is the
 * platform's: Google's function mints an ID token for the target's audience on the metadata
 * server (functions/gcp/id-token.ts), the local stack uses the local identity's tokens, and AWS's
 * Lambda signs the request with SigV4 as its role (functions/aws/sigv4.ts). Each adapter injects its own.
 */
import type { HttpTarget, HttpTargets } from "../config/http-targets.js";

/** The call about to be made, for the authorizer to prove the caller on. */
export interface OutgoingCall {
  readonly targetKey: string;
  readonly target: HttpTarget;
  readonly url: URL;
  readonly method: "POST";
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The headers that prove the function's identity for this call (`Authorization: Bearer <ID
 * token for target.audience>`, or a SigV4 signature of it). Throws when it cannot: the run fails
 * as unavailable (a retry may find the token source back), or, when the platform refuses the
 * target itself, with the RunFailure it throws (AWS's signer: a host that checks no IAM).
 */
export type HttpAuthorizer = (call: OutgoingCall) => Promise<Readonly<Record<string, string>>>;

export interface HttpDeps {
  /** The stack's targets (HTTP_TARGETS): where a call may go, and only there. */
  readonly targets: HttpTargets;
  /** Loaded on an http task's first run only, so a SQL task's cold start loads no auth client. */
  readonly loadAuthorizer: () => Promise<HttpAuthorizer>;
}
