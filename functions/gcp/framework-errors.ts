/**
 * functions-framework parses the body before the function sees the request (body-parser, with a
 * 1 GB limit). A malformed JSON body never reaches the function: Express's default final handler
 * answers 400 with an HTML page carrying the parser's stack trace (unless NODE_ENV=production).
 * The framework has no hook for this (functions-framework-nodejs issue #686), so the final
 * handler of the framework's own Express is replaced with one that answers in the function's
 * JSON error shape. What only the raw request shows is refused here, before the framework reads
 * the body: a compressed body, a charset other than UTF-8, a repeated Authorization header, a
 * body declared larger than the function accepts, and a body without a declared length as soon
 * as it passes that size (see functions/gcp/strict-request.ts). The two paths the framework answers
 * itself with an empty 404 (/favicon.ico, /robots.txt) get the same JSON 404 as any other path.
 *
 * The Express used is the framework's own (resolved from its package, already loaded by the time
 * the function's module loads): nothing new is loaded at cold start.
 */
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Answer } from "./answer.js";
import { toAnswer } from "./answer.js";
import { notFoundMessage } from "./contract.js";
import type { ErrorCode } from "../core/errors.js";
import { ScheduledTaskError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { contentTypeProblem, repeatedHeaderProblem } from "./strict-request.js";

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
    // Before the framework decodes the body: it would read UTF-16 and UTF-7 as the header says.
    const mediaType = contentTypeProblem(req.headers["content-type"]);
    if (mediaType !== undefined) {
      const error = new ScheduledTaskError("unsupported_media_type", mediaType);
      respond(req, res, toAnswer({ kind: "error", error }), log, error.code);
      return undefined;
    }
    const repeated = repeatedHeaderProblem(req.rawHeaders);
    if (repeated !== undefined) {
      const error = new ScheduledTaskError("bad_request", repeated);
      respond(req, res, toAnswer({ kind: "error", error }), log, error.code);
      return undefined;
    }
    const tooLarge = (): ScheduledTaskError =>
      new ScheduledTaskError("payload_too_large", `the body is larger than ${maxBodyBytes} bytes`);
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      respond(req, res, toAnswer({ kind: "error", error: tooLarge() }), log, "payload_too_large");
      return undefined;
    }
    if (req.headers["transfer-encoding"] !== undefined) {
      // No declared length (Node's parser holds a declared one to its word): the framework would
      // buffer up to 1 GB before any limit applies, so the bytes are counted as they arrive. The
      // framework's reader attaches in this same call, before any byte is emitted, so both see all.
      let received = 0;
      const count = (chunk: Buffer): void => {
        received += chunk.length;
        if (received <= maxBodyBytes) return;
        req.off("data", count);
        // Paused, the request stops taking bytes from the socket once its small buffer is full,
        // and the framework's reader never sees the body end.
        req.pause();
        respond(req, res, toAnswer({ kind: "error", error: tooLarge() }), log, "payload_too_large", true);
      };
      req.on("data", count);
    }
    return original.call(this, req, res, (error?: unknown) => finalAnswer(req, res, error, log));
  };
  application[installed] = true;
  return true;
}

function notFound(): ScheduledTaskError {
  return new ScheduledTaskError("not_found", notFoundMessage);
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

/** How long a connection whose body was refused mid-stream stays half-closed before it is closed. */
const lingerMs = 2000;

function respond(
  req: IncomingMessage,
  res: ServerResponse,
  answer: Answer,
  log: Logger,
  code: ErrorCode,
  midStream = false,
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
  if (midStream) {
    // The client is still sending. Closing at once, as Node does after a `Connection: close`
    // answer, would close over unread bytes: the kernel then resets the connection, and the reset
    // can destroy the answer before the client reads it (RFC 9112 section 9.6,
    // https://www.rfc-editor.org/rfc/rfc9112#section-9.6). So for this one connection Node's
    // close only half-closes it (the answer, then FIN); the paused request reads nothing more;
    // and the connection closes fully once the client has had time to read the answer.
    const socket = req.socket;
    socket.destroySoon = () => socket.end();
    res.setHeader("Connection", "close");
    res.once("finish", () => {
      socket.end();
      setTimeout(() => socket.destroy(), lingerMs).unref();
    });
  } else if (code === "payload_too_large" || code === "unsupported_media_type") {
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
