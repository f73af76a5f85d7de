/**
 * Which AWS service and Region an http task's call is signed for, read from the target's host: the
 * one rule the Lambda's signer (./sigv4.ts), an AWS stack's config check (infra/aws/config.ts) and
 * the local stack's signature check (scripts/local/sigv4-check.ts) share. On AWS the function proves
 * itself with a SigV4 signature as its role, which only a service that checks IAM accepts:
 * - an API Gateway stage, `<api-id>.execute-api.<region>.amazonaws.com`, signed for `execute-api`
 *   (a method whose authorization is AWS_IAM:
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html);
 * - a Lambda function URL, `<url-id>.lambda-url.<region>.on.aws`, signed for `lambda` (its auth
 *   type AWS_IAM: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html,
 *   https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
 * Any other host would take the signature as an ordinary header and check nothing, so it is
 * refused. The local stack's loopback targets stand in for an API Gateway stage in the Lambda's
 * own Region, so the local stack checks real signatures. Dependency-free.
 */

export type SigningService = "execute-api" | "lambda";

export interface SigningScope {
  readonly service: SigningService;
  readonly region: string;
  /** The API's id (execute-api) or the function URL's id (lambda); undefined for a loopback stand-in. */
  readonly id: string | undefined;
}

const region = "([a-z]{2}(?:-[a-z]+)+-\\d+)";
const executeApiHost = new RegExp(`^([a-z0-9]{10})\\.execute-api\\.${region}\\.amazonaws\\.com(?:\\.cn)?$`);
const functionUrlHost = new RegExp(`^([a-z0-9]{1,64})\\.lambda-url\\.${region}\\.on\\.aws$`);
const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

interface ScopeRules {
  /** The Region a loopback target is signed for (the Lambda's AWS_REGION); loopback is refused without it. */
  readonly loopbackRegion?: string | undefined;
}

/** The service and Region a call to `url` is signed for, or undefined when its host checks no IAM. */
export function signingScopeOf(url: URL, rules: ScopeRules = {}): SigningScope | undefined {
  const host = url.hostname.toLowerCase();
  const api = executeApiHost.exec(host);
  if (api) return { service: "execute-api", id: api[1], region: api[2]! };
  const functionUrl = functionUrlHost.exec(host);
  if (functionUrl) return { service: "lambda", id: functionUrl[1], region: functionUrl[2]! };
  if (loopbackHosts.has(host) && url.protocol === "http:" && rules.loopbackRegion) {
    return { service: "execute-api", id: undefined, region: rules.loopbackRegion };
  }
  return undefined;
}

/** Why a call to this host cannot be signed: the cause, for the run's record and `pulumi up`. */
export function notBehindIam(host: string): string {
  return `on AWS an http target must be behind IAM: an API Gateway stage (execute-api) or a Lambda function URL with AWS_IAM auth; ${host} is neither`;
}
