/**
 * AWS's proof of the Lambda for an http task's call: the request signed with Signature Version 4
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html) as
 * the function's execution role, for the service and Region its target's host says
 * (./sigv4-scope.ts). The signature covers the method, the path, the host, every header the call
 * carries (Content-Type, Idempotency-Key, the trace header) and the body's SHA-256, which also goes
 * in `x-amz-content-sha256`; with the role's session token in `x-amz-security-token`.
 *
 * The credentials are the role's, which Lambda puts in the function's environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN:
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
 * read by the SDK's `fromEnv` on every call, so no credential chain, file or network is involved.
 * Loaded on an http task's first run only (a dynamic import from ./app.ts), so a SQL task's cold
 * start loads no AWS SDK module.
 */
import { fromEnv } from "@aws-sdk/credential-provider-env";
import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";
import type { HttpAuthorizer, OutgoingCall } from "../core/run/http-contract.js";
import { RunFailure } from "../core/run/run-result.js";
import { notBehindIam, signingScopeOf } from "./sigv4-scope.js";

/** An access key pair, with its session token when it is a role's. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

interface SigV4Options {
  /** The Lambda's Region (AWS_REGION): the local stack's loopback targets are signed for it. */
  readonly region: string | undefined;
  /** Where the role's credentials come from; the Lambda's environment by default. */
  readonly credentials?: () => Promise<AwsCredentials>;
  /** The signature's time; the clock by default. */
  readonly now?: () => Date;
}

/** The headers a signature adds; the call's own headers are sent as they were signed. */
const SIGNATURE_HEADERS = ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"];

/** The signer. A call to a host that checks no IAM is refused (target_refused: a retry cannot change it). */
export function sigv4Authorizer(options: SigV4Options): HttpAuthorizer {
  const credentials = options.credentials ?? fromEnv();
  const now = options.now ?? (() => new Date());
  const signers = new Map<string, SignatureV4>();
  return async (call: OutgoingCall) => {
    const scope = signingScopeOf(call.url, { loopbackRegion: options.region });
    if (!scope) {
      throw new RunFailure("target_refused", `${call.targetKey}: ${notBehindIam(call.url.hostname)}`, 0);
    }
    const key = `${scope.service} ${scope.region}`;
    let signer = signers.get(key);
    if (!signer) {
      signer = new SignatureV4({ service: scope.service, region: scope.region, credentials, sha256: Sha256 });
      signers.set(key, signer);
    }
    const signed = await signer.sign(signable(call), { signingDate: now() });
    const headers: Record<string, string> = {};
    for (const name of SIGNATURE_HEADERS) {
      const value = signed.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    return headers;
  };
}

/** The request as it goes on the wire: Node's client sends `Host` as the URL's host (with a non-default port). */
function signable(call: OutgoingCall) {
  return {
    method: call.method,
    protocol: call.url.protocol,
    hostname: call.url.hostname,
    ...(call.url.port ? { port: Number(call.url.port) } : {}),
    path: call.url.pathname,
    query: {},
    headers: { ...call.headers, host: call.url.host },
    body: call.body,
  };
}
