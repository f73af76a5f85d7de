/**
 * One POST to an http task's target, with Node's own client: no redirect is followed (Node's
 * client never follows one; the runner refuses a 3xx), the answer's body is read up to a bound and
 * then the socket is destroyed (a 100 MB answer costs the bound, not 100 MB), the whole call stops
 * at the run's deadline, and the address a name resolves to is checked before connecting: a
 * link-local address (the metadata server) never, a private one only for a target the stack marks
 * internal. Loaded with the first http task's run.
 */
import { lookup as dnsLookup } from "node:dns";
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from "node:dns";
import http from "node:http";
import https from "node:https";
import type { HttpTarget } from "../config/http-targets.js";
import { isLinkLocalAddress, isPrivateAddress } from "../config/http-targets.js";

/** How much of an answer is read: enough for a count and an error message, never a download. */
const ANSWER_BYTES_READ = 16 * 1024;

export interface CallAnswer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly location: string | undefined;
  /** The first bytes of the body, at most ANSWER_BYTES_READ. */
  readonly body: Buffer;
  /** The body went on past the bound (the socket was destroyed there). */
  readonly truncated: boolean;
  readonly durationMs: number;
}

/** Why a call got no answer: its deadline passed, the connection failed, or the address was refused. */
export class CallFailure extends Error {
  constructor(
    readonly kind: "timeout" | "connection" | "address",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A lookup that refuses the addresses this target may not reach, whatever name led there. */
function guardedLookup(target: HttpTarget) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const refused = addresses.find(
        (entry) => isLinkLocalAddress(entry.address) || (!target.internal && isPrivateAddress(entry.address)),
      );
      if (refused) {
        const problem = new CallFailure(
          "address",
          `${hostname} resolves to ${refused.address}, ${isLinkLocalAddress(refused.address) ? "a link-local address (never a target)" : "a private address (the target is not marked internal)"}`,
        );
        return callback(problem as NodeJS.ErrnoException, []);
      }
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      const first = addresses[0];
      return first ? callback(null, first.address, first.family) : callback(null, [], 4);
    });
  };
}

function failureOfError(error: unknown, deadlinePassed: boolean): CallFailure {
  if (error instanceof CallFailure) return error;
  if (deadlinePassed)
    return new CallFailure("timeout", "the target did not answer before the run's deadline");
  const message = error instanceof Error ? error.message : String(error);
  return new CallFailure("connection", `the connection to the target failed: ${message}`, { cause: error });
}

interface CallRequest {
  readonly url: URL;
  readonly target: HttpTarget;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Epoch milliseconds: the call is abandoned then. */
  readonly deadline: number;
  readonly maxBodyBytes?: number;
}

export function callTarget(call: CallRequest): Promise<CallAnswer> {
  const started = Date.now();
  const limit = call.maxBodyBytes ?? ANSWER_BYTES_READ;
  const client = call.url.protocol === "https:" ? https : http;
  return new Promise<CallAnswer>((resolve, reject) => {
    let deadlinePassed = false;
    const request = client.request(call.url, {
      method: "POST",
      headers: { ...call.headers, "content-length": String(Buffer.byteLength(call.body)) },
      lookup: guardedLookup(call.target) as never,
      agent: false,
    });
    const timer = setTimeout(
      () => {
        deadlinePassed = true;
        request.destroy();
      },
      Math.max(0, call.deadline - started),
    );
    const fail = (error: unknown): void => {
      clearTimeout(timer);
      reject(failureOfError(error, deadlinePassed));
    };
    request.on("error", fail);
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (truncated: boolean): void => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks).subarray(0, limit);
        resolve({
          status: response.statusCode ?? 0,
          retryAfter: response.headers["retry-after"],
          location: response.headers.location,
          body,
          truncated,
          durationMs: Date.now() - started,
        });
      };
      response.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= limit) {
          // Enough read: what follows is never buffered, and the socket goes with it.
          response.removeAllListeners("data");
          request.removeListener("error", fail);
          request.on("error", () => undefined);
          request.destroy();
          done(true);
        }
      });
      response.on("end", () => done(false));
      response.on("error", fail);
    });
    request.end(call.body);
  });
}
