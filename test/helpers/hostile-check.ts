/**
 * What every answer to a hostile request must be: one of the statuses the contract allows for its
 * defect, as the documented JSON error `{"error": {"code", "message"}}` whose code maps to that
 * status, with no stack trace and nothing of the caller's token echoed back.
 */
import { errorStatus } from "../../functions/core/errors.js";
import type { DevIdentity } from "../../scripts/local/dev-identity.js";
import { mint } from "./forged-tokens.js";
import type { HostileRequest } from "./hostile-requests.js";
import type { RawResponse } from "./raw-http.js";
import { jsonOf } from "./raw-http.js";

const stackTrace =
  /\n\s+at |\bat [\w$.<>]+ \(|\.(?:ts|js|cjs|mjs):\d+:\d+|node_modules|SyntaxError|TypeError|RangeError/;

/** The problems with this answer; empty when it is what the contract says. */
export function problemsWithAnswer(
  request: HostileRequest,
  response: RawResponse,
  sentAuthorization?: string,
): string[] {
  const problems: string[] = [];
  if (!request.expected.includes(response.status)) {
    problems.push(`status ${response.status}, expected ${request.expected.join(" or ")}`);
  }
  if (!/^application\/json\b/i.test(response.headers["content-type"] ?? "")) {
    problems.push(`content type ${JSON.stringify(response.headers["content-type"])}`);
  }
  const text = response.body.toString("utf8");
  const body = jsonOf(response) as { error?: { code?: unknown; message?: unknown } } | undefined;
  const error = body?.error;
  if (!error || typeof error.code !== "string" || typeof error.message !== "string" || error.message === "") {
    problems.push(`body is not {"error": {"code", "message"}}: ${text.slice(0, 200)}`);
  } else if ((errorStatus as Record<string, number>)[error.code] !== response.status) {
    problems.push(`error code ${error.code} does not map to status ${response.status}`);
  }
  // Messages may quote the request (an unknown task's name): only text the caller did not send counts.
  const sent = `${request.path}\n${request.body?.toString("utf8") ?? ""}`;
  for (const candidate of [text, typeof error?.message === "string" ? error.message : ""]) {
    const trace = stackTrace.exec(candidate);
    if (trace && !sent.includes(trace[0])) {
      problems.push(`the body looks like it carries a stack trace: ${text.slice(0, 200)}`);
      break;
    }
  }
  if (sentAuthorization && sentAuthorization.length > 20 && text.includes(sentAuthorization.slice(7))) {
    problems.push("the body echoes the caller's token");
  }
  if (response.status === 405 && !response.headers["allow"]) problems.push("405 without an Allow header");
  return problems;
}

export interface Credentials {
  /** A valid token of the allowed caller. */
  readonly token: string;
  readonly identity: DevIdentity;
  /** Another key pair: what a forger without the real key has. */
  readonly impostor: DevIdentity;
}

/** The Authorization header value to send for a request. */
export function authorizationFor(request: HostileRequest, credentials: Credentials): string | undefined {
  switch (request.authorization.kind) {
    case "valid":
      return `Bearer ${credentials.token}`;
    case "absent":
      return undefined;
    case "raw":
      return request.authorization.value;
    case "forged":
      return `Bearer ${mint(request.authorization.forgery, credentials.identity, credentials.impostor)}`;
  }
}

/** Counts by key, for the report. */
export class Tally {
  readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  toObject(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => b[1] - a[1]));
  }
}
