/**
 * The local stack's stand-in for the app's own service: the target the catalog's http tasks call
 * (`app-backend`), on loopback, so a newcomer sees an http task run, fail, retry and succeed with
 * no cloud account. It does what a real target should (docs/http-api.md, "HTTP tasks"): refuses a
 * call without a valid token for its own audience from the function's account, does a tick's
 * work once per Idempotency-Key (a repeated key gets the first answer again, nothing pushed
 * twice), and answers the count it did as `{"rowsAffected": n}`. Nothing leaves the machine:
 * "pushing" a reminder is counting it.
 *
 * Its demo controls, loopback only and unauthenticated like the rest of the local stack's helpers:
 * `POST /demo/next` queues the answers of the next calls (`{"status": 503}`, `{"status": 429,
 * "retryAfter": 2}`, `{"hangSeconds": 40}`, each with an optional `"times"`), `DELETE /demo/next`
 * clears them, `GET /demo/calls` lists the calls received.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AwsCredentials } from "../../functions/aws/sigv4.js";
import { ScheduledTaskError } from "../../functions/core/errors.js";
import { createAuthenticator } from "../../functions/gcp/auth.js";
import { sigv4Problem } from "./sigv4-check.js";

/** Who made a call, or why it is refused: the platform's proof (an ID token, a SigV4 signature). */
export type CallCheck = (request: {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}) => Promise<{ caller: string } | { refused: string; status: 401 | 403 }>;

/**
 * What a Cloud Run target with IAM does before the app sees a call: a Google ID token, signed by a
 * key at `certsUrl`, for the target's own URL, from an account allowed to invoke it. The check is
 * the function's own caller check (functions/gcp/auth.ts), given the target's audience.
 */
export function googleTokenCheck(certsUrl: string, invokers: readonly string[]): (url: string) => CallCheck {
  return (url) => {
    const authenticator = createAuthenticator({
      mode: "verify",
      audiences: [url],
      allowedEmails: new Set(invokers),
      certsUrl,
    });
    return async ({ headers }) => {
      try {
        return { caller: (await authenticator.authenticate(headers.authorization)).email };
      } catch (error) {
        const status = error instanceof ScheduledTaskError && error.status === 403 ? 403 : 401;
        return { refused: error instanceof Error ? error.message : String(error), status };
      }
    };
  };
}

/**
 * What an API Gateway stage with IAM authorization does before the app sees a call: a SigV4
 * signature, for `execute-api` in `region`, by the holder of `credentials` (the local Lambda's
 * role). Any other call goes to `otherwise`, so one backend serves the function and the Lambda.
 */
export function awsSignatureCheck(
  credentials: AwsCredentials,
  region: string,
  otherwise: (url: string) => CallCheck,
): (url: string) => CallCheck {
  return (url) => {
    const other = otherwise(url);
    return async (request) => {
      if (!/^AWS4-HMAC-SHA256 /.test(request.headers.authorization ?? "")) return other(request);
      const problem = sigv4Problem(
        { ...request, url: `${request.url.pathname}${request.url.search}` },
        { credentials, region, service: "execute-api" },
      );
      return problem
        ? { refused: `the signature does not hold: ${problem}`, status: 403 }
        : { caller: `the Lambda's role (${credentials.accessKeyId})` };
    };
  };
}

/** One queued answer: a status (with Retry-After), or no answer for a while. */
interface CannedAnswer {
  readonly status?: number;
  readonly retryAfter?: number;
  readonly hangSeconds?: number;
}

interface ReceivedCall {
  readonly at: string;
  readonly path: string;
  readonly idempotencyKey: string | null;
  readonly caller: string | null;
  readonly status: number;
  readonly answer: string;
}

export interface AppBackend {
  readonly url: string;
  readonly calls: readonly ReceivedCall[];
  close(): Promise<void>;
}

interface AppBackendOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Builds the caller check once the backend's own URL (its audience) is known. */
  readonly check: (url: string) => CallCheck;
  /** Milliseconds since the epoch (the calls' times). */
  readonly now?: () => number;
}

const MAX_BODY_BYTES = 64 * 1024;
const KEPT_CALLS = 100;
/** The demo's reminders due per call: a stand-in for the app's own query. */
const REMINDERS_PER_CALL = 3;

export async function startAppBackend(options: AppBackendOptions): Promise<AppBackend> {
  const now = options.now ?? Date.now;
  const queued: CannedAnswer[] = [];
  const calls: ReceivedCall[] = [];
  const done = new Map<string, string>();
  let check: CallCheck = () => Promise.resolve({ refused: "starting", status: 401 });

  const record = (call: Omit<ReceivedCall, "at">): void => {
    calls.push({ at: new Date(now()).toISOString(), ...call });
    if (calls.length > KEPT_CALLS) calls.shift();
  };

  async function job(request: IncomingMessage, response: ServerResponse, url: URL, body: string) {
    const key = headerOf(request, "idempotency-key");
    const proof = await check({ method: request.method ?? "", url, headers: request.headers, body });
    if ("refused" in proof) {
      record({
        path: url.pathname,
        idempotencyKey: key,
        caller: null,
        status: proof.status,
        answer: proof.refused,
      });
      return send(response, proof.status, { error: proof.refused });
    }
    const canned = queued.shift();
    if (canned?.hangSeconds !== undefined) {
      record({
        path: url.pathname,
        idempotencyKey: key,
        caller: proof.caller,
        status: 0,
        answer: `hung ${canned.hangSeconds} s`,
      });
      const timer = setTimeout(() => send(response, 200, { rowsAffected: 0 }), canned.hangSeconds * 1000);
      response.once("close", () => clearTimeout(timer));
      return;
    }
    if (canned?.status !== undefined) {
      const headers: Record<string, string> =
        canned.retryAfter !== undefined ? { "retry-after": String(canned.retryAfter) } : {};
      const answer = JSON.stringify({ error: `the demo was told to answer ${canned.status}` });
      record({
        path: url.pathname,
        idempotencyKey: key,
        caller: proof.caller,
        status: canned.status,
        answer,
      });
      return send(response, canned.status, JSON.parse(answer) as object, headers);
    }
    // A key already done gets its first answer again: the scheduler's retry of a tick pushes nothing twice.
    const first = key ? done.get(key) : undefined;
    const answer =
      first ??
      JSON.stringify({ rowsAffected: REMINDERS_PER_CALL, pushed: "demo: nothing leaves the machine" });
    if (key && !first) done.set(key, answer);
    record({
      path: url.pathname,
      idempotencyKey: key,
      caller: proof.caller,
      status: 200,
      answer: first ? `repeat of ${key}: ${answer}` : answer,
    });
    return send(response, 200, JSON.parse(answer) as object);
  }

  const server = createServer((request, response) => {
    readBody(request)
      .then(async (body) => {
        const url = new URL(request.url ?? "/", "http://127.0.0.1");
        if (url.pathname === "/demo/next") return controls(request, response, body, queued);
        if (url.pathname === "/demo/calls" && request.method === "GET") return send(response, 200, { calls });
        // Any other path is a job: whatever path an http task names, the demo does its work.
        if (request.method !== "POST") return send(response, 405, { error: "jobs are called with POST" });
        return job(request, response, url, body);
      })
      .catch((error: unknown) => send(response, 400, { error: (error as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  check = options.check(url);
  return { url, calls, close: () => closeServer(server) };
}

function controls(
  request: IncomingMessage,
  response: ServerResponse,
  body: string,
  queued: CannedAnswer[],
): void {
  if (request.method === "DELETE") {
    queued.length = 0;
    return send(response, 200, { queued });
  }
  if (request.method !== "POST") return send(response, 405, { error: "POST an answer, or DELETE to clear" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return send(response, 400, {
      error: 'the body is not JSON: {"status": 503}, {"status": 429, "retryAfter": 2} or {"hangSeconds": 40}',
    });
  }
  const problem = cannedProblem(parsed);
  if (problem) return send(response, 400, { error: problem });
  const { times = 1, ...answer } = parsed as CannedAnswer & { times?: number };
  for (let i = 0; i < times; i++) queued.push(answer);
  return send(response, 200, { queued });
}

function cannedProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return "the body must be a JSON object";
  const { status, retryAfter, hangSeconds, times, ...rest } = value as Record<string, unknown>;
  const whole = (n: unknown, min: number, max: number) =>
    Number.isInteger(n) && (n as number) >= min && (n as number) <= max;
  if (Object.keys(rest).length > 0)
    return `unknown fields: ${Object.keys(rest).join(", ")} (status, retryAfter, hangSeconds, times)`;
  if ((status === undefined) === (hangSeconds === undefined)) return "give either status or hangSeconds";
  if (status !== undefined && !whole(status, 200, 599)) return "status must be an HTTP status, 200 to 599";
  if (retryAfter !== undefined && !whole(retryAfter, 0, 3600))
    return "retryAfter must be whole seconds, 0 to 3600";
  if (hangSeconds !== undefined && !whole(hangSeconds, 1, 3600))
    return "hangSeconds must be whole seconds, 1 to 3600";
  if (times !== undefined && !whole(times, 1, 100)) return "times must be 1 to 100";
  return undefined;
}

function headerOf(request: IncomingMessage, name: string): string | null {
  const value = request.headers[name];
  return typeof value === "string" ? value : null;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("the body is too large"));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function send(
  response: ServerResponse,
  status: number,
  body: object,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(`${JSON.stringify(body)}\n`);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
