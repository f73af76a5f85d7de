/**
 * The function in-process behind the framework's own test server (the same Express app, body
 * parsers and error handling as `functions-framework` builds), listening on a loopback port so
 * tests speak real HTTP to it.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as functions from "@google-cloud/functions-framework";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import type { ScheduledTasksFunction, ScheduledTasksOptions } from "../../functions/gcp/app.js";
import { createScheduledTasksFunction } from "../../functions/gcp/app.js";
import type { Handler } from "../../functions/gcp/router.js";

let registered = 0;

export interface RunningFunction {
  readonly url: string;
  readonly fn: ScheduledTasksFunction | undefined;
  close(): Promise<void>;
}

/** Serves a handler under a fresh function name. */
export async function serveHandler(handler: Handler): Promise<{ url: string; close(): Promise<void> }> {
  registered += 1;
  const name = `scheduledTasksUnderTest${registered}`;
  functions.http(name, handler);
  const server: Server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startFunction(options: ScheduledTasksOptions): Promise<RunningFunction> {
  const fn = createScheduledTasksFunction(options);
  const served = await serveHandler(fn.handler);
  return {
    url: served.url,
    fn,
    async close() {
      await served.close();
      await fn.close();
    },
  };
}

export interface JsonAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown> & {
    error?: { code: string; message: string; [key: string]: unknown };
  };
  readonly text: string;
}

export async function call(
  url: string,
  init: {
    method?: string;
    token?: string;
    body?: unknown;
    raw?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<JsonAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined = init.raw;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(url, {
    method: init.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    body,
  });
  const text = await response.text();
  let parsed: JsonAnswer["body"];
  try {
    parsed = JSON.parse(text) as JsonAnswer["body"];
  } catch {
    parsed = {};
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}
