/**
 * The local Lambda behind a loopback copy of Lambda's Invoke API
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html):
 * `POST /2015-03-31/functions/<name>/invocations` with the event as the body and
 * `X-Amz-Invocation-Type` `RequestResponse` (the default: 200, the function's value, or its error
 * object with `X-Amz-Function-Error: Unhandled`), `Event` (202: queued, run with Lambda's retries)
 * or `DryRun` (204). The CLI's `force-run --aws` calls it; so can `aws lambda invoke
 * --endpoint-url` pointed at it.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { InvokeResult } from "./lambda-host.js";

const LOCAL_FUNCTION_NAME = "scheduled-jobs";
/** Far below Lambda's 6 MB: no run request is more than a few dozen bytes. */
const MAX_PAYLOAD_BYTES = 256 * 1024;

interface LambdaEndpointOptions {
  readonly port: number;
  readonly functionName?: string;
  readonly invoke: (event: unknown) => Promise<InvokeResult>;
  readonly invokeAsync: (event: unknown) => void;
}

export interface LambdaEndpoint {
  readonly url: string;
  close(): Promise<void>;
}

/** The path of a function's invocations, as the Invoke API names it. */
export function invocationsPath(functionName: string = LOCAL_FUNCTION_NAME): string {
  return `/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
}

function refuse(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json", "x-amzn-errortype": type });
  res.end(JSON.stringify({ Type: "User", message }));
}

async function bodyOf(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  options: LambdaEndpointOptions,
): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method !== "POST" || path !== invocationsPath(options.functionName)) {
    refuse(
      res,
      404,
      "ResourceNotFoundException",
      `only POST ${invocationsPath(options.functionName)} is served`,
    );
    return;
  }
  const body = await bodyOf(req);
  if (body === undefined) {
    refuse(res, 413, "RequestTooLargeException", `the payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
    return;
  }
  let event: unknown;
  try {
    event = body.length === 0 ? {} : (JSON.parse(body.toString("utf8")) as unknown);
  } catch {
    refuse(res, 400, "InvalidRequestContentException", "Could not parse request body into json");
    return;
  }
  const type = req.headers["x-amz-invocation-type"] ?? "RequestResponse";
  if (type === "DryRun") {
    res.writeHead(204).end();
  } else if (type === "Event") {
    options.invokeAsync(event);
    res.writeHead(202).end();
  } else if (type === "RequestResponse") {
    const result = await options.invoke(event);
    res.writeHead(200, {
      "content-type": "application/json",
      ...(result.ok ? {} : { "x-amz-function-error": "Unhandled" }),
    });
    res.end(JSON.stringify(result.ok ? result.payload : result.error));
  } else {
    refuse(
      res,
      400,
      "InvalidParameterValueException",
      `unknown X-Amz-Invocation-Type ${JSON.stringify(type)}`,
    );
  }
}

export async function serveLambdaEndpoint(options: LambdaEndpointOptions): Promise<LambdaEndpoint> {
  const server: Server = createServer((req, res) => {
    answer(req, res, options).catch((error: unknown) => {
      if (!res.headersSent) refuse(res, 500, "ServiceException", (error as Error).message);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
