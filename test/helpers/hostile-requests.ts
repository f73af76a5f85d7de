/**
 * Generators of hostile HTTP requests for the function, built so that every one is wrong in at least
 * one way the contract names (method, content type, body, field, task name, header, size), whatever
 * order the function checks things in. Each carries the statuses the contract allows for its defect:
 * a request the function runs, or answers outside that set, is a failure of the function.
 */
import fc from "fast-check";
import { findTask, taskNames } from "../../functions/core/catalog.js";
import type { Forgery } from "./forged-tokens.js";
import { forgery } from "./forged-tokens.js";

export type Authorization =
  /** A valid ID token of the allowed caller, minted when the request is sent. */
  | { readonly kind: "valid" }
  | { readonly kind: "absent" }
  /** This exact header value. */
  | { readonly kind: "raw"; readonly value: string }
  /** `Bearer` and a forged token, minted when the request is sent. */
  | { readonly kind: "forged"; readonly forgery: Forgery };

export interface HostileRequest {
  /** What is wrong with it, for failure messages and the tally. */
  readonly defect: string;
  readonly method: string;
  /** Sent as is in the request line (may hold percent-escapes and dot segments). */
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly authorization: Authorization;
  readonly body?: Buffer;
  /** Sent without a declared length (Transfer-Encoding: chunked). */
  readonly chunked?: boolean;
  /** The statuses the contract allows for this request. */
  readonly expected: readonly number[];
}

const validAuth: Authorization = { kind: "valid" };
const json = "application/json";

const knownTask = fc.constantFrom(...taskNames);

/** A body Cloud Scheduler could send for a real task: the defect must come from elsewhere. */
const validBody = knownTask.map((task) => JSON.stringify({ task }));

const unknownField = fc
  .oneof(
    fc.constantFrom(
      "__proto__",
      "constructor",
      "prototype",
      "Task",
      "TASK",
      "task ",
      " task",
      "dry_run",
      "dryrun",
      "DryRun",
      "Force",
      "sql",
      "query",
      "statement",
      "schedule",
      "maxRows",
      "jobName",
      "scheduleTime",
      "",
      "tásk",
    ),
    fc.string({ minLength: 1, maxLength: 20 }),
  )
  .filter((key) => !["task", "dryRun", "force", "trigger"].includes(key));

/** Any JSON value but a boolean (dryRun and force must be booleans). */
const notBoolean = fc.jsonValue({ maxDepth: 2 }).filter((value) => typeof value !== "boolean");
/** Any JSON value but a string (task must be a string). */
const notString = fc.jsonValue({ maxDepth: 2 }).filter((value) => typeof value !== "string");

function bytes(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/** Unicode look-alikes and invisible characters that a lax comparison could fold into a real name. */
function disguise(name: string, how: number): string {
  switch (how % 9) {
    case 0:
      return name.replace("-", "\u2010"); // hyphen look-alike
    case 1:
      return name.replace("o", "\u043e"); // Cyrillic o
    case 2:
      return `${name}\u200b`; // zero-width space
    case 3:
      return `\ufeff${name}`; // byte order mark
    case 4:
      return name.toUpperCase();
    case 5:
      return ` ${name}`;
    case 6:
      return `${name}\n`;
    case 7:
      return name.normalize("NFD").replace("e", "e\u0301"); // combining accent
    default:
      return Array.from(name, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(""); // full-width
  }
}

/** Task names that are not tasks: path tricks, SQL, unicode, control characters, 10 KB strings. */
export const oddTaskName: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom(
      "../../etc/passwd",
      "..\\..\\windows\\win.ini",
      "auto-cancel-unconfirmed-orders/../purge-run-history",
      "sql/tasks/archive-old-orders.sql",
      "archive-old-orders.sql",
      "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/dev/zero",
      "file:///etc/passwd",
      "'; DROP TABLE orders; --",
      "x'); DELETE FROM scheduler.job_runs; --",
      "archive-old-orders' OR '1'='1",
      "generate-daily-stats; TRUNCATE orders",
      "$1",
      "pg_sleep(10)",
      "${process.exit(1)}",
      "{{7*7}}",
      "<script>alert(1)</script>",
      "constructor",
      "__proto__",
      "toString",
      "hasOwnProperty",
      "null",
      "undefined",
      "",
      " ",
      "\u0000",
      "archive-old-orders\u0000.sql",
      "\ud800",
      "🍕🛵",
    ),
    fc.tuple(knownTask, fc.nat()).map(([name, how]) => disguise(name, how)),
    fc
      .tuple(knownTask, fc.constantFrom("/", "?", "#", ";", "%00", "*", "..", "\\"))
      .map(([name, suffix]) => `${name}${suffix}`),
    fc.string({ unit: "binary", maxLength: 64 }),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
    fc.integer({ min: 10_240, max: 12_288 }).map((length) => "a".repeat(length)),
    fc
      .tuple(knownTask, fc.integer({ min: 10_000, max: 11_000 }))
      .map(([name, length]) => name.padEnd(length, name)),
  )
  .filter((name) => findTask(name) === undefined);

/** Text that is not JSON, sent as application/json. */
const malformedJson = fc.oneof(
  fc.constantFrom(
    "",
    "{",
    "}",
    "{task: 'auto-cancel-unconfirmed-orders'}",
    "{'task': 'driver-inactivity-check'}",
    '{"task": "driver-inactivity-check",}',
    '{"task": "driver-inactivity-check"} {"task": "archive-old-orders"}',
    '{"task": "driver-inactivity-check"}garbage',
    '{"task": "driver-inactivity-check" // comment\n}',
    '{"task": NaN}',
    '{"task": Infinity}',
    '{"task": undefined}',
    '{"task": "\\x41"}',
    '{"task": "\\ud800"',
    '{"task": "driver-inactivity-check", "dryRun": tru}',
    '\ufeff{"task": 1}',
    "null",
    "[",
    "\u0000",
    '{"task":"driver-inactivity-check"'.repeat(3),
    "task=driver-inactivity-check",
  ),
  validBody.chain((body) => fc.integer({ min: 1, max: body.length - 1 }).map((cut) => body.slice(0, cut))),
  fc.string({ unit: "binary", maxLength: 200 }).filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  }),
);

/** A query value as a client would send it; a lone surrogate goes as the bytes of U+FFFD. */
function percentEncoded(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return "%EF%BF%BD";
  }
}

function nested(depth: number, open: string, close: string, inner: string): string {
  return `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
}

export interface HostileOptions {
  /** The largest body the function accepts: a larger one may only be answered 413. */
  readonly maxBodyBytes: number;
}

/** How a request shows in a failure report: the body clipped, never megabytes of it. */
function withSummary(request: HostileRequest): HostileRequest {
  const body = request.body?.toString("utf8") ?? "";
  const summary = `${request.defect}: ${request.method} ${request.path.slice(0, 60)} ${JSON.stringify(request.headers).slice(0, 300)} auth=${JSON.stringify(request.authorization).slice(0, 80)} body(${request.body?.length ?? 0})=${JSON.stringify(body.slice(0, 200))}`;
  return Object.assign(request, { [fc.toStringMethod]: () => summary });
}

/** One generated hostile request. */
export function hostileRequest(options: HostileOptions): fc.Arbitrary<HostileRequest> {
  return hostileRequestOf(options).map(withSummary);
}

function hostileRequestOf(options: HostileOptions): fc.Arbitrary<HostileRequest> {
  const post = (
    defect: string,
    body: string | Buffer,
    expected: readonly number[],
    contentType: string | undefined = json,
  ): HostileRequest => {
    const sent = typeof body === "string" ? bytes(body) : body;
    return {
      defect,
      method: "POST",
      path: "/",
      headers: contentType === undefined ? [] : [["content-type", contentType]],
      authorization: validAuth,
      body: sent,
      // Size is checked before the body is read: whatever else is wrong with it.
      expected: sent.length > options.maxBodyBytes ? [413] : expected,
    };
  };

  const wrongMethod = fc
    .tuple(fc.constantFrom("GET", "PUT", "DELETE", "PATCH", "OPTIONS"), validBody, fc.boolean())
    .map(([method, body, withBody]): HostileRequest => ({
      defect: `method ${method}`,
      method,
      path: "/",
      headers: withBody ? [["content-type", json]] : [],
      authorization: validAuth,
      ...(withBody ? { body: bytes(body) } : {}),
      expected: [405],
    }));

  const wrongContentType = fc
    .tuple(
      fc.constantFrom(
        "text/plain",
        "text/html",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "image/png",
        "application/javascript",
        "text/csv",
        "application/jsonx",
        "json",
      ),
      validBody,
    )
    .map(([contentType, body]) => post(`content type ${contentType}`, body, [415], contentType));

  const notJson = malformedJson.map((body) => post("malformed JSON", body, [400]));

  const notAnObject = fc
    .jsonValue({ maxDepth: 3 })
    .filter((value) => value === null || typeof value !== "object" || Array.isArray(value))
    .map((value) => post("JSON that is not an object", JSON.stringify(value), [400]));

  const taskNotString = notString.map((task) =>
    post("task is not a string", JSON.stringify({ task }), [400]),
  );

  const flagNotBoolean = fc
    .tuple(knownTask, fc.constantFrom("dryRun", "force"), notBoolean)
    .map(([task, flag, value]) =>
      post(`${flag} is not a boolean`, JSON.stringify({ task, [flag]: value }), [400]),
    );

  const extraField = fc
    .tuple(knownTask, unknownField, fc.jsonValue({ maxDepth: 2 }))
    // Built as text: an object literal would turn "__proto__" into a prototype, not a field.
    .map(([task, key, value]) =>
      post(
        `unknown field ${JSON.stringify(key).slice(0, 30)}`,
        `{"task":${JSON.stringify(task)},${JSON.stringify(key)}:${JSON.stringify(value) ?? "null"}}`,
        [400],
      ),
    );

  const missingTask = fc
    .record({ dryRun: fc.boolean(), force: fc.boolean() }, { requiredKeys: [] })
    .map((fields) => post("task missing", JSON.stringify(fields), [400]));

  const oddTask = fc
    .tuple(oddTaskName, fc.boolean())
    .map(([task, dryRun]) =>
      post("odd task name", JSON.stringify(dryRun ? { task, dryRun } : { task }), [400, 404]),
    );

  const hugeBody = fc
    .tuple(
      knownTask,
      fc.integer({ min: options.maxBodyBytes, max: 2_000_000 }),
      fc.constantFrom("pad", "space", "field"),
    )
    .map(([task, size, how]) => {
      const body =
        how === "space"
          ? `{"task":${JSON.stringify(task)}${" ".repeat(size)}}`
          : how === "field"
            ? JSON.stringify({ task, padding: "x".repeat(size) })
            : JSON.stringify({ task: task.padEnd(size, "x") });
      return post(`body of ${body.length} bytes (${how})`, body, [413]);
    });

  // No Content-Length to refuse it by: the function must measure what it received.
  const chunkedHugeBody = fc
    .tuple(knownTask, fc.integer({ min: options.maxBodyBytes + 1, max: 300_000 }))
    .map(([task, size]): HostileRequest => ({
      ...post(
        `chunked body of about ${size} bytes`,
        JSON.stringify({ task, padding: "x".repeat(size) }),
        [413],
      ),
      chunked: true,
    }));

  const deepBody = fc
    .tuple(fc.integer({ min: 200, max: 50_000 }), fc.constantFrom("array", "object", "task"))
    .map(([depth, how]) => {
      const body =
        how === "array"
          ? nested(depth, "[", "]", "")
          : how === "object"
            ? nested(depth, '{"a":', "}", "1")
            : `{"task":${nested(depth, "[", "]", '"archive-old-orders"')}}`;
      return post(`nested ${depth} deep (${how})`, body, [400, 413]);
    });

  const badScheduleTime = fc
    .tuple(
      validBody,
      fc.oneof(
        fc.constantFrom(
          "not-a-date",
          "2026-13-45T99:99:99Z",
          "2026-02-30T10:00:00Z",
          "yesterday",
          "0",
          "-1",
          "99999999999999999999",
          "1e400",
          "NaN",
          "null",
          "2026-11-29T10:00:00Z'; DROP TABLE orders; --",
          "2026-11-29T10:00:00Z, 2026-11-29T10:05:00Z",
          "２０２６-１１-２９T10:00:00Z",
          "2026-11-29T10:00:00Zjunk",
          "+275760-09-13T00:00:00.001Z",
        ),
        fc
          .string({ unit: "grapheme-ascii", minLength: 1, maxLength: 40 })
          .filter((value) => value.trim() !== "" && Number.isNaN(Date.parse(value))),
        fc.integer({ min: 1_000, max: 8_000 }).map((length) => "9".repeat(length)),
      ),
    )
    .map(([body, value]): HostileRequest => ({
      ...post("bad X-CloudScheduler-ScheduleTime", body, [400]),
      headers: [
        ["content-type", json],
        ["x-cloudscheduler-jobname", "driver-inactivity-check"],
        ["x-cloudscheduler-scheduletime", value],
      ],
    }));

  const badAuthorization = fc
    .tuple(
      validBody,
      fc.oneof(
        fc.constant<Authorization>({ kind: "absent" }),
        fc
          .oneof(
            fc.constantFrom(
              "",
              "Bearer",
              "Bearer ",
              "Bearer  ",
              "bearer",
              "Basic dXNlcjpwYXNzd29yZA==",
              "Digest username=admin",
              "Bearer null",
              "Bearer undefined",
              "Bearer a.b.c",
              "Bearer ..",
              "Bearer eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImFkbWluIn0.",
              "Bearer SIGNATURE_REMOVED_BY_GOOGLE",
              "Bearer Bearer x.y.z",
              "Token x.y.z",
              "Bearer ' OR 1=1 --",
              "Bearer ☃.☃.☃",
            ),
            fc
              .tuple(
                fc.base64String({ maxLength: 60 }),
                fc.base64String({ maxLength: 200 }),
                fc.base64String(),
              )
              .map(([a, b, c]) => `Bearer ${a}.${b}.${c}`),
            fc.string({ unit: "grapheme-ascii", maxLength: 80 }).map((text) => `Bearer ${text}`),
            fc.integer({ min: 4_000, max: 10_000 }).map((length) => `Bearer ${"A".repeat(length)}`),
          )
          .map((value): Authorization => ({ kind: "raw", value })),
      ),
    )
    .map(([body, authorization]): HostileRequest => ({
      ...post(`authorization ${authorization.kind === "raw" ? "malformed" : "absent"}`, body, [401]),
      authorization,
    }));

  const forgedToken = fc.tuple(validBody, forgery).map(([body, forged]): HostileRequest => ({
    ...post(`forged token: ${forged.defect}`, body, forged.expected),
    authorization: { kind: "forged", forgery: forged },
  }));

  const repeatedKey = fc
    .tuple(knownTask, knownTask, fc.constantFrom("top", "escaped", "flag", "nested"))
    .map(([first, second, how]) => {
      const body =
        how === "top"
          ? `{"task":${JSON.stringify(first)},"task":${JSON.stringify(second)}}`
          : how === "escaped"
            ? `{"task":${JSON.stringify(first)},"t\\u0061sk":${JSON.stringify(second)}}`
            : how === "flag"
              ? `{"task":${JSON.stringify(first)},"dryRun":true,"dryRun":false}`
              : `{"task":${JSON.stringify(first)},"force":[{"a":1,"a":2}]}`;
      return post(`repeated key (${how})`, body, [400]);
    });

  // The framework would decode these as the header says; anything but UTF-8 is refused first.
  const foreignCharset = fc
    .tuple(
      validBody,
      fc.constantFrom("utf-16", "UTF-16LE", "utf-16be", '"utf-16"', "utf-7", "latin1", "utf8", "utf-32"),
      fc.boolean(),
    )
    .map(([body, charset, utf8First]) => {
      const encoded = /16/.test(charset) ? Buffer.from(body, "utf16le") : bytes(body);
      const contentType = `${json}; ${utf8First ? "charset=utf-8; " : ""}charset=${charset}`;
      return post(`charset ${charset}`, encoded, [415], contentType);
    });

  const repeatedAuthorization = fc
    .tuple(
      validBody,
      fc.constantFrom("Bearer x.y.z", "Basic dXNlcjpwYXNz", "", "Bearer"),
      fc.constantFrom("authorization", "Authorization", "AUTHORIZATION"),
    )
    .map(([body, other, name]): HostileRequest => ({
      ...post("Authorization repeated", body, [400]),
      // The valid token is added after these headers: two Authorization headers in all.
      headers: [
        ["content-type", json],
        [name, other],
      ],
    }));

  const runsWithoutToken = fc
    .tuple(
      fc.oneof(knownTask, oddTaskName),
      fc.constantFrom("", "&limit=0", "&failed=maybe", "&sort=asc"),
      fc.constantFrom<Authorization>({ kind: "absent" }, { kind: "raw", value: "Bearer x.y.z" }),
    )
    .map(([task, rest, authorization]): HostileRequest => ({
      defect: "runs query without a valid token",
      method: "GET",
      path: `/runs?task=${percentEncoded(task).slice(0, 2000)}${rest}`,
      headers: [],
      authorization,
      expected: [401],
    }));

  const badHealth = fc
    .tuple(fc.constantFrom<Authorization>({ kind: "absent" }, { kind: "raw", value: "Bearer x.y.z" }))
    .map(([authorization]): HostileRequest => ({
      defect: "health without a valid token",
      method: "GET",
      path: "/health",
      headers: [],
      authorization,
      expected: [401],
    }));

  return fc.oneof(
    { arbitrary: wrongMethod, weight: 2 },
    { arbitrary: wrongContentType, weight: 2 },
    { arbitrary: notJson, weight: 4 },
    { arbitrary: notAnObject, weight: 2 },
    { arbitrary: taskNotString, weight: 2 },
    { arbitrary: flagNotBoolean, weight: 2 },
    { arbitrary: extraField, weight: 3 },
    { arbitrary: missingTask, weight: 1 },
    { arbitrary: oddTask, weight: 6 },
    { arbitrary: hugeBody, weight: 1 },
    { arbitrary: deepBody, weight: 1 },
    { arbitrary: chunkedHugeBody, weight: 1 },
    { arbitrary: badScheduleTime, weight: 3 },
    { arbitrary: badAuthorization, weight: 4 },
    { arbitrary: forgedToken, weight: 6 },
    { arbitrary: badHealth, weight: 1 },
    { arbitrary: repeatedKey, weight: 2 },
    { arbitrary: foreignCharset, weight: 2 },
    { arbitrary: repeatedAuthorization, weight: 2 },
    { arbitrary: runsWithoutToken, weight: 1 },
  );
}

/** Paths other than the function's own, put in front of an already wrong request. */
export const oddPath: fc.Arbitrary<string> = fc.constantFrom(
  "/..%2f..%2fetc%2fpasswd",
  "/%2e%2e/%2e%2e/",
  "//",
  "/index.js",
  "/dist/function/index.js",
  "/sql/tasks/archive-old-orders.sql",
  "/auto-cancel-unconfirmed-orders",
  "/?task=archive-old-orders",
  "/%00",
  "/health/..",
  "/;task=x",
  "/" + "a".repeat(4000),
);

/** A hostile request, sometimes sent to another path (a path may add 404 to what is allowed). */
export function hostileRequestAnywhere(options: HostileOptions): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(
      hostileRequest(options),
      fc.oneof({ weight: 17, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: oddPath }),
    )
    .map(([request, path]) =>
      path === null || request.method !== "POST"
        ? request
        : withSummary({
            ...request,
            path,
            defect: `${request.defect} at ${path.slice(0, 40)}`,
            expected: request.expected.includes(404) ? request.expected : [...request.expected, 404],
          }),
    );
}
