/**
 * functions-framework parses the body before the function sees the request (body-parser, with a
 * 1 GB limit). A malformed JSON body never reaches the function: Express's default final handler
 * answers 400 with an HTML page carrying the parser's stack trace (unless NODE_ENV=production).
 * The framework has no hook for this (functions-framework-nodejs issue #686), so the final
 * handler of the framework's own Express is replaced with one that answers in the function's
 * JSON error shape; a body declared larger than the function accepts is refused before it is
 * read at all; and the two paths the framework answers itself with an empty 404 (/favicon.ico,
 * /robots.txt) get the same JSON 404 as any other unknown path.
 *
 * The Express used is the framework's own (resolved from its package, already loaded by the time
 * the function's module loads): nothing new is loaded at cold start.
 */
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Answer } from "./answer.js";
import { toAnswer } from "./answer.js";
import type { ErrorCode } from "./errors.js";
import { ScheduledTaskError } from "./errors.js";
import type { Logger } from "./log.js";

type Done = (error?: unknown) => void;
interface ExpressApplication {
  handle(this: unknown, req: IncomingMessage, res: ServerResponse, callback?: Done): unknown;
}

const installed = Symbol.for("scheduled-jobs.framework-errors");

/** Installs the JSON final handler once per process; false when the framework's Express is not found. */
export function answerFrameworkErrorsAsJson(log: Logger, maxBodyBytes: number): boolean {
  let application: ExpressApplication & { [installed]?: true };
  try {
    const require = createRequire(import.meta.url);
    const framework = require.resolve("@google-cloud/functions-framework");
    application = (createRequire(framework)("express") as { application: typeof application }).application;
  } catch {
    log.warn("could not find the functions framework's Express: its own error pages stay in place");
    return false;
  }
  if (application[installed]) return true;
  const original = application.handle;
  application.handle = function handle(req, res, callback) {
    if (callback) return original.call(this, req, res, callback);
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/favicon.ico" || path === "/robots.txt") {
      respond(req, res, toAnswer({ kind: "error", error: notFound() }), log, "not_found");
      return undefined;
    }
    // The framework would inflate a compressed body before any limit applies (a few KB of gzip can
    // become megabytes); Cloud Scheduler never compresses.
    const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
    if (encoding !== "identity") {
      const error = new ScheduledTaskError(
        "unsupported_media_type",
        "compressed bodies are not accepted (Content-Encoding must be absent or identity)",
      );
      respond(req, res, toAnswer({ kind: "error", error }), log, error.code);
      return undefined;
    }
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      const error = new ScheduledTaskError(
        "payload_too_large",
        `the body is larger than ${maxBodyBytes} bytes`,
      );
      respond(req, res, toAnswer({ kind: "error", error }), log, error.code);
      return undefined;
    }
    return original.call(this, req, res, (error?: unknown) => finalAnswer(req, res, error, log));
  };
  application[installed] = true;
  return true;
}

function notFound(): ScheduledTaskError {
  return new ScheduledTaskError("not_found", "no such path: the function serves POST / and GET /health");
}

function finalAnswer(req: IncomingMessage, res: ServerResponse, error: unknown, log: Logger): void {
  const type = (error as { type?: unknown } | undefined)?.type;
  if (type === "request.aborted") {
    res.destroy();
    return;
  }
  const [code, message] = classify(error, type);
  respond(req, res, toAnswer({ kind: "error", error: new ScheduledTaskError(code, message) }), log, code);
}

function classify(error: unknown, type: unknown): [ErrorCode, string] {
  if (error === undefined) return ["not_found", notFound().message];
  switch (type) {
    case "entity.parse.failed":
      return ["bad_request", "the body is not valid JSON (an object is expected)"];
    case "entity.too.large":
      return ["payload_too_large", "the body is too large"];
    case "encoding.unsupported":
    case "charset.unsupported":
      return ["unsupported_media_type", "the body must be UTF-8 JSON"];
    case "entity.verify.failed":
    case "request.size.invalid":
    case "stream.encoding.set":
      return ["bad_request", "the body could not be read"];
  }
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && status >= 400 && status < 500
    ? ["bad_request", "the request could not be read"]
    : ["internal", "internal error"];
}

function respond(
  req: IncomingMessage,
  res: ServerResponse,
  answer: Answer,
  log: Logger,
  code: ErrorCode,
): void {
  log[answer.status >= 500 ? "error" : "warn"](
    `${req.method} ${(req.url ?? "/").split("?")[0]?.slice(0, 200)}: ${answer.status} ${code}`,
    {
      httpRequest: { requestMethod: req.method, status: answer.status },
      code,
    },
  );
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (code === "payload_too_large" || code === "unsupported_media_type") {
    // Not worth reading: the connection closes instead.
    res.setHeader("Connection", "close");
  } else {
    req.resume();
  }
  res.statusCode = answer.status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.end(JSON.stringify(answer.body));
}
