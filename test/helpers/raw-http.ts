/**
 * A bare HTTP/1.1 client on a TCP socket. Node's own client refuses to send what hostile callers
 * send (non-Latin-1 header bytes, odd paths, bodies under any method), so the tests write the
 * request bytes themselves and read the answer back.
 */
import { connect } from "node:net";

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: Buffer | undefined;
  /** Send the body with Transfer-Encoding: chunked (no declared length) instead of Content-Length. */
  readonly chunked?: boolean | undefined;
}

export interface RawResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly durationMs: number;
}

export class ConnectionFailure extends Error {}

const LARGE_BODY = 64 * 1024;
const EARLY_ANSWER_WAIT_MS = 50;

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", offset);
    if (lineEnd < 0) throw new Error("truncated chunked body");
    const size = parseInt(data.subarray(offset, lineEnd).toString("latin1").split(";")[0]!, 16);
    if (Number.isNaN(size)) throw new Error("malformed chunk size");
    if (size === 0) return Buffer.concat(parts);
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

function parseResponse(data: Buffer, method: string): Omit<RawResponse, "durationMs"> {
  const headEnd = data.indexOf("\r\n\r\n");
  if (headEnd < 0) throw new ConnectionFailure(`no complete response head (${data.length} bytes)`);
  const [statusLine, ...lines] = data.subarray(0, headEnd).toString("latin1").split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  if (!match) throw new ConnectionFailure(`malformed status line: ${statusLine}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const rest = data.subarray(headEnd + 4);
  let body: Buffer;
  if (method === "HEAD") body = Buffer.alloc(0);
  else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = decodeChunked(rest);
  else if (headers["content-length"] !== undefined)
    body = rest.subarray(0, Number(headers["content-length"]));
  else body = rest;
  return { status: Number(match[1]), headers, body };
}

/**
 * Sends one request on a fresh connection (`Connection: close`) and resolves with the answer. Rejects
 * with ConnectionFailure when the server closes or resets without a complete answer.
 */
export function sendRaw(
  port: number,
  request: RawRequest,
  options: { host?: string; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const host = options.host ?? "127.0.0.1";
  for (const [name, value] of request.headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${name} holds a line break`);
  }
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: ${host}:${port}`, "connection: close"];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (request.body !== undefined) {
    lines.push(request.chunked ? "transfer-encoding: chunked" : `content-length: ${request.body.length}`);
  }
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "utf8");

  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const data = Buffer.concat(chunks);
      if (data.length > 0) {
        try {
          resolve({ ...parseResponse(data, request.method), durationMs: performance.now() - started });
          return;
        } catch (parseError) {
          if (!error) error = parseError as Error;
        }
      }
      reject(
        error instanceof ConnectionFailure
          ? error
          : new ConnectionFailure(`no answer: ${error?.message ?? "connection closed"}`, { cause: error }),
      );
    };
    socket.setTimeout(options.timeoutMs ?? 30_000, () => finish(new Error("timed out")));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => finish());
    socket.on("close", () => finish());
    socket.on("error", (error) => {
      // A server that answered (413) and closed while the body was still going out: the answer counts.
      if (chunks.length > 0 && (error as NodeJS.ErrnoException).code !== "ETIMEDOUT") finish();
      else finish(error);
    });
    socket.on("connect", () => {
      socket.write(head);
      const body = request.chunked && request.body ? chunkedEncoding(request.body) : request.body;
      if (body === undefined || body.length === 0) return;
      if (body.length <= LARGE_BODY) {
        socket.write(body);
        return;
      }
      // A server may refuse a large body from its declared length alone and close at once; the
      // kernel then resets the connection, and an answer not yet read would be lost. As a careful
      // client does with "Expect: 100-continue", wait briefly for an early answer before sending.
      setTimeout(() => {
        if (chunks.length > 0 || settled) return;
        socket.write(body);
      }, EARLY_ANSWER_WAIT_MS);
    });
  });
}

function chunkedEncoding(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += 16 * 1024) {
    const chunk = body.subarray(offset, offset + 16 * 1024);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

/** The answer's body as JSON, or undefined when it is not JSON. */
export function jsonOf(response: RawResponse): unknown {
  try {
    return JSON.parse(response.body.toString("utf8"));
  } catch {
    return undefined;
  }
}

export interface StreamedUpload {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Body bytes handed to the socket before the answer came (or all of them). */
  readonly bytesSent: number;
  /** False when the server answered before the client had written the whole body. */
  readonly bodyFinished: boolean;
  readonly durationMs: number;
}

/**
 * Sends a chunked body of about `totalBytes` (a JSON object padded with "x") as a real client streams
 * one: chunk after chunk, waiting on the socket's back-pressure, and stopping as soon as an answer
 * arrives. The answer is read to the end of the connection (`Connection: close`).
 */
export function streamChunked(
  port: number,
  request: {
    readonly path: string;
    readonly headers: ReadonlyArray<readonly [string, string]>;
    readonly totalBytes: number;
    readonly chunkBytes?: number;
  },
  options: { host?: string; timeoutMs?: number } = {},
): Promise<StreamedUpload> {
  const host = options.host ?? "127.0.0.1";
  const chunkBytes = request.chunkBytes ?? 64 * 1024;
  const lines = [
    `POST ${request.path} HTTP/1.1`,
    `host: ${host}:${port}`,
    "connection: close",
    "transfer-encoding: chunked",
    ...request.headers.map(([name, value]) => `${name}: ${value}`),
  ];
  const prefix = Buffer.from('{"task":"driver-inactivity-check","padding":"');
  const suffix = Buffer.from('"}');
  const padding = Buffer.alloc(chunkBytes, "x");
  const frame = (data: Buffer): Buffer =>
    Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);

  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let sent = 0;
    let finished = false;
    let settled = false;
    const done = (error?: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const data = Buffer.concat(chunks);
      try {
        if (data.length === 0) throw error ?? new ConnectionFailure("connection closed without an answer");
        const response = parseResponse(data, "POST");
        resolve({
          ...response,
          bytesSent: sent,
          bodyFinished: finished,
          durationMs: performance.now() - started,
        });
      } catch (parseError) {
        reject(parseError instanceof Error ? parseError : new Error(String(parseError)));
      }
    };
    const answered = (): boolean => chunks.length > 0 || settled;
    // One chunk at a time, each after the previous one reached the kernel and the event loop had a
    // turn: an answer that arrived meanwhile is read before anything more is written. (A write into
    // a connection the server has reset fails, and Node then drops what it had not read yet.)
    const pump = (): void => {
      if (answered()) return;
      if (sent >= request.totalBytes) {
        finished = true;
        socket.write(Buffer.concat([frame(suffix), Buffer.from("0\r\n\r\n")]));
        return;
      }
      const body = sent === 0 ? prefix : padding.subarray(0, Math.min(chunkBytes, request.totalBytes - sent));
      sent += body.length;
      socket.write(frame(body), () => setImmediate(pump));
    };
    socket.setTimeout(options.timeoutMs ?? 60_000, () => done(new ConnectionFailure("timed out")));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => done());
    socket.on("close", () => done());
    // A server that answered and closed while the body was still going out: the answer counts.
    socket.on("error", (error) => done(error));
    socket.on("connect", () => {
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      pump();
    });
  });
}
