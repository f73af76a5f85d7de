/**
 * What an IAM-checking AWS endpoint does with a signed request, done here: the signature is
 * recomputed from the request as it arrived and the signer's credentials, by AWS's own recipe
 * (canonical request, string to sign, signing key:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
 * with node:crypto alone, so it checks the Lambda's signer (functions/aws/sigv4.ts) rather than
 * repeating it. For the local stack's stand-in targets and the tests: a tampered body, header or
 * path, another key, Region or service, or a stale date each come back as the problem.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { AwsCredentials } from "../../functions/aws/sigv4.js";
import type { SigningService } from "../../functions/aws/sigv4-scope.js";

/**
 * The local stack's stand-in for the Lambda role's credentials: the local Lambda is given them as
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, as Lambda gives the role's, and
 * the local targets check signatures against them. Not an AWS key: nothing on AWS accepts them.
 */
export const LOCAL_AWS_CREDENTIALS: Required<AwsCredentials> = {
  accessKeyId: "AKIALOCALSTACK000000",
  secretAccessKey: "local-stack-secret-access-key-not-an-aws-key",
  sessionToken: "local-stack-session-token",
};

/** The local Lambda's Region, as Lambda sets AWS_REGION: what its http calls are signed for. */
export const LOCAL_AWS_REGION = "eu-west-1";

/**
 * How far a request's X-Amz-Date may be from the checker's clock: AWS refuses a request that does
 * not reach it within five minutes of its time stamp
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-signing.html).
 */
const MAX_SKEW_MS = 5 * 60_000;

/** A request as a server received it. */
export interface SignedRequest {
  readonly method: string;
  /** The request target as sent: path and query, percent-encoded. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer | string;
}

interface Expected {
  readonly credentials: AwsCredentials;
  readonly region: string;
  readonly service: SigningService;
  /** The checker's clock; the system's by default. */
  readonly now?: Date;
}

const authorizationPattern =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

const sha256Hex = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");
const hmac = (key: Buffer | string, data: string): Buffer => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding of everything but unreserved characters, as SigV4 asks. */
const encode = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value.join(",") : value).trim().replace(/\s+/g, " ");
}

/** The canonical request (method, path encoded again segment by segment, sorted query, signed headers, payload hash). */
function canonicalRequest(request: SignedRequest, signedHeaders: string[], payloadHash: string): string {
  const [path = "/", query = ""] = request.url.split("?", 2);
  const canonicalPath = path
    .split("/")
    .map((segment) => encode(segment))
    .join("/");
  const canonicalQuery = query
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => pair.split("=", 2).map((part) => encode(decodeURIComponent(part ?? ""))))
    .sort(([a = "", b = ""], [c = "", d = ""]) => (a === c ? (b < d ? -1 : 1) : a < c ? -1 : 1))
    .map(([name = "", value = ""]) => `${name}=${value}`)
    .join("&");
  const headers = signedHeaders
    .map((name) => `${name}:${headerValue(request.headers, name) ?? ""}\n`)
    .join("");
  return [request.method, canonicalPath, canonicalQuery, headers, signedHeaders.join(";"), payloadHash].join(
    "\n",
  );
}

/** What the headers say before any signature is computed; the problem, or the parts to check. */
function readAuthorization(request: SignedRequest, expected: Expected) {
  const match = authorizationPattern.exec(headerValue(request.headers, "authorization") ?? "");
  if (!match) return { problem: "no AWS4-HMAC-SHA256 Authorization header" };
  const [, keyId, day, region, service, signed = "", signature = ""] = match;
  if (keyId !== expected.credentials.accessKeyId)
    return { problem: `signed with another access key (${keyId})` };
  if (region !== expected.region || service !== expected.service) {
    return { problem: `signed for ${region}/${service}, not ${expected.region}/${expected.service}` };
  }
  const amzDate = headerValue(request.headers, "x-amz-date") ?? "";
  const time = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!time || amzDate.slice(0, 8) !== day)
    return { problem: `X-Amz-Date ${JSON.stringify(amzDate)} is not the credential's day` };
  const at = Date.UTC(+time[1]!, +time[2]! - 1, +time[3]!, +time[4]!, +time[5]!, +time[6]!);
  if (Math.abs((expected.now ?? new Date()).getTime() - at) > MAX_SKEW_MS)
    return { problem: `X-Amz-Date ${amzDate} is more than five minutes away` };
  const signedHeaders = signed.split(";");
  for (const required of ["host", "x-amz-date"]) {
    if (!signedHeaders.includes(required)) return { problem: `${required} is not signed` };
  }
  const token = expected.credentials.sessionToken;
  if (
    token !== undefined &&
    (!signedHeaders.includes("x-amz-security-token") ||
      headerValue(request.headers, "x-amz-security-token") !== token)
  ) {
    return { problem: "the session token is missing, unsigned or another one" };
  }
  return { day, amzDate, signedHeaders, signature };
}

/** Why this request's signature does not hold for these credentials, Region and service; undefined when it does. */
export function sigv4Problem(request: SignedRequest, expected: Expected): string | undefined {
  const parts = readAuthorization(request, expected);
  if ("problem" in parts) return parts.problem;
  const { day, amzDate, signedHeaders, signature } = parts;
  const payloadHash = sha256Hex(request.body);
  const declared = headerValue(request.headers, "x-amz-content-sha256");
  if (declared !== undefined && declared !== payloadHash)
    return "the body is not the one x-amz-content-sha256 names";
  const scope = `${day}/${expected.region}/${expected.service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    sha256Hex(canonicalRequest(request, signedHeaders, payloadHash)),
  ].join("\n");
  let key = hmac(`AWS4${expected.credentials.secretAccessKey}`, day);
  for (const part of [expected.region, expected.service, "aws4_request"]) key = hmac(key, part);
  const computed = hmac(key, stringToSign);
  return timingSafeEqual(computed, Buffer.from(signature, "hex"))
    ? undefined
    : "the signature does not match the request (a header, the path or the body changed, or another secret signed it)";
}
