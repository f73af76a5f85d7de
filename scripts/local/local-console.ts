/**
 * The local console, on 127.0.0.1 only: the dashboard's page, its data routes and its actions are
 * the function's, called with a fresh development token (a browser cannot add a bearer token to a
 * page load); POST /token mints one for the CLI and curl. The console calls the function as the
 * local operator, whose email the function lists in OPERATOR_EMAILS, so the dashboard's actions
 * work here as they do behind `gcloud run services proxy` in the cloud.
 *
 * A console that adds a token to whatever reaches it is what a forged request would aim at: any
 * page open in the operator's browser can send one to localhost. So the Host must be loopback (a
 * page cannot reach the console through DNS rebinding), and an action must pass the function's
 * own browser checks (functions/gcp/action-guard.ts) here too, with its Origin, when sent, this
 * console's own: the console forwards what it checked (Origin, Sec-Fetch-Site, the custom header)
 * and the function checks again.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { ACTION_HEADER, forgeryProblem } from "../../functions/gcp/action-guard.js";
import { routeList } from "../../functions/gcp/contract.js";
import { MAX_BODY_BYTES } from "../../functions/gcp/router.js";

const loopbackHosts = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

/** Headers of the browser's request the function needs to see, beside the token the console adds. */
const forwarded = ["accept", "content-type", "origin", "sec-fetch-site", ACTION_HEADER.toLowerCase()];

interface ConsoleTokens {
  /** The scheduler's identity: what POST /token mints for the CLI and curl. */
  readonly invoker: () => string;
  /** The local operator's: what the browser's requests carry. Default: the invoker's (read-only dashboard). */
  readonly operator?: () => string;
}

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

export async function serveConsole(
  port: number,
  functionUrl: string,
  tokens: ConsoleTokens | (() => string),
): Promise<Server> {
  const { invoker, operator = invoker } = typeof tokens === "function" ? { invoker: tokens } : tokens;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const reply: Reply = (status, body, headers = {}) => {
      res.writeHead(status, {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
        ...headers,
      });
      res.end(JSON.stringify(body));
    };
    void answer(req, res, reply, functionUrl, { invoker, operator }).catch((error: unknown) =>
      reply(502, {
        error: { code: "unavailable", message: `the function did not answer: ${(error as Error).message}` },
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return server;
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  reply: Reply,
  functionUrl: string,
  tokens: Required<ConsoleTokens>,
): Promise<void> {
  const host = req.headers.host ?? "";
  if (!loopbackHosts.test(host)) {
    reply(403, { error: { code: "forbidden", message: "the local console answers only to localhost" } });
    return;
  }
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname === "/" && req.method === "GET") {
    res.writeHead(302, { location: "/dashboard" });
    res.end();
    return;
  }
  if (url.pathname === "/token") {
    if (req.method !== "POST") {
      reply(
        405,
        { error: { code: "method_not_allowed", message: "/token accepts POST only" } },
        { allow: "POST" },
      );
      return;
    }
    reply(200, { token: tokens.invoker(), audience: functionUrl });
    return;
  }
  const route = routeList.find(
    (candidate) => candidate.path === url.pathname && (candidate.readOnly || candidate.action),
  );
  if (!route) {
    const served = routeList.filter((candidate) => candidate.readOnly || candidate.action);
    const names = served.map((candidate) => `${candidate.method} ${candidate.path}`).join(", ");
    reply(404, { error: { code: "not_found", message: `the console serves ${names} and POST /token` } });
    return;
  }
  if (req.method !== route.method) {
    const message = `${url.pathname} accepts ${route.method} only`;
    reply(405, { error: { code: "method_not_allowed", message } }, { allow: route.method });
    return;
  }
  if (route.action) {
    const problem = consoleForgeryProblem(req, host);
    if (problem !== undefined) {
      reply(403, { error: { code: "forbidden", message: problem } });
      return;
    }
  }
  const body = route.action ? await readBody(req) : undefined;
  if (body === null) {
    reply(413, {
      error: { code: "payload_too_large", message: `the body is larger than ${MAX_BODY_BYTES} bytes` },
    });
    return;
  }
  await forward(req, res, `${functionUrl}${url.pathname}${url.search}`, tokens.operator(), body);
}

/** The function's browser checks, and an Origin that is this console's own. */
function consoleForgeryProblem(req: IncomingMessage, host: string): string | undefined {
  const header = (name: string): string | undefined => {
    const value = req.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(",") : value;
  };
  const problem = forgeryProblem(header);
  if (problem !== undefined) return problem;
  const origin = header("origin");
  if (origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
    return `an action is taken only from this console's own page (Origin ${JSON.stringify(origin.slice(0, 100))})`;
  }
  return undefined;
}

async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  token: string,
  body: Buffer | undefined,
): Promise<void> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  for (const name of forwarded) {
    const value = req.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  headers.accept ??= "*/*";
  const upstream = await fetch(target, {
    method: req.method ?? "GET",
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const answered: Record<string, string> = {};
  for (const name of ["content-type", "cache-control", "content-security-policy", "allow"]) {
    const value = upstream.headers.get(name);
    if (value) answered[name] = value;
  }
  res.writeHead(upstream.status, answered);
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

/** The body; null past the function's own limit (the function would refuse it too). */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
