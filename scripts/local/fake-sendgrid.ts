/**
 * A local stand-in for SendGrid's v3 mail/send endpoint, over real HTTP, for the real SDK to talk to
 * (through SENDGRID_BASE_URL). It checks requests the way SendGrid documents them (bearer key, at
 * most 1,000 personalizations and recipients, valid and unique addresses, a sender, a subject and
 * content, string substitutions and custom_args within their size limits), answers 202 with an
 * X-Message-Id, keeps every email it accepted (substitutions applied), and can be told to fail.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { EmailConfig } from "../../functions/core/config/email-config.js";

interface FakeEmail {
  readonly messageId: string;
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly customArgs: Readonly<Record<string, string>>;
  readonly categories: readonly string[];
}

type Fault =
  | { readonly status: 429; readonly retryAfterSeconds?: number }
  | { readonly status: 500 | 502 | 503 }
  | { readonly status: 401 | 403 }
  /** Never answers and accepts nothing: the client times out. */
  | { readonly hang: true }
  /** Accepts the emails, then never answers: the ambiguous case no client can tell apart. */
  | { readonly acceptThenHang: true }
  /** Accepts the emails, then drops the connection before answering: a 202 whose answer was lost. */
  | { readonly acceptThenDrop: true };

interface FakeCall {
  readonly personalizations: number;
  readonly status: number | "hang" | "dropped";
}

export interface FakeSendGrid {
  readonly url: string;
  readonly apiKey: string;
  /** Every email accepted, in order. */
  readonly emails: FakeEmail[];
  readonly calls: FakeCall[];
  /** Requests answered 400 and why. */
  readonly invalid: string[];
  /** Faults for the next calls, consumed one per call. */
  failNext(...faults: Fault[]): void;
  /** A fault for any call the queue does not cover (undefined: accept). */
  setFault(fault: ((call: number) => Fault | undefined) | undefined): void;
  /** Delays every answer by this many milliseconds. */
  setLatency(ms: number): void;
  /** Refuses (400) any request holding one of these addresses, without naming the personalization. */
  refuseUnnamed(addresses: readonly string[]): void;
  reset(): void;
  close(): Promise<void>;
}

const emailPattern = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

interface SendGridError {
  message: string;
  field: string | null;
  help: string | null;
}

export async function startFakeSendGrid(options: { apiKey?: string } = {}): Promise<FakeSendGrid> {
  const apiKey = options.apiKey ?? `SG.fake-${randomBytes(12).toString("hex")}`;
  const emails: FakeEmail[] = [];
  const calls: FakeCall[] = [];
  const invalid: string[] = [];
  let queue: Fault[] = [];
  let standing: ((call: number) => Fault | undefined) | undefined;
  let latency = 0;
  let unnamed = new Set<string>();
  const sockets = new Set<Socket>();

  const answer = (
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const send = () => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(body === undefined ? "" : JSON.stringify(body));
    };
    if (latency > 0) setTimeout(send, latency);
    else send();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || req.url !== "/v3/mail/send") {
      answer(res, 404, { errors: [{ message: "not found", field: null, help: null }] });
      return;
    }
    const callNumber = calls.length + 1;
    const fault = queue.shift() ?? standing?.(callNumber);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      body = undefined;
    }
    const personalizations = Array.isArray((body as { personalizations?: unknown })?.personalizations)
      ? (body as { personalizations: unknown[] }).personalizations.length
      : 0;

    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      calls.push({ personalizations, status: 401 });
      answer(res, 401, {
        errors: [
          {
            message: "The provided authorization grant is invalid, expired, or revoked",
            field: null,
            help: null,
          },
        ],
      });
      return;
    }
    if (fault && "hang" in fault) {
      calls.push({ personalizations, status: "hang" });
      return;
    }
    if (fault && "status" in fault) {
      calls.push({ personalizations, status: fault.status });
      const headers: Record<string, string> = {};
      if (fault.status === 429) {
        headers["Retry-After"] = String(fault.retryAfterSeconds ?? 1);
        headers["X-RateLimit-Remaining"] = "0";
      }
      answer(
        res,
        fault.status,
        { errors: [{ message: `fault ${fault.status}`, field: null, help: null }] },
        headers,
      );
      return;
    }

    const errors = validate(body);
    const refused = (body as Partial<MailBody>).personalizations
      ?.flatMap((p) => p.to ?? [])
      .find((to) => unnamed.has(to.email));
    if (errors.length === 0 && refused) {
      errors.push({ message: "The recipient is on a block list.", field: null, help: null });
    }
    if (errors.length > 0) {
      calls.push({ personalizations, status: 400 });
      invalid.push(errors.map((e) => `${e.field}: ${e.message}`).join("; "));
      answer(res, 400, { errors });
      return;
    }

    const messageId = randomBytes(16).toString("base64url").slice(0, 22);
    const mail = body as MailBody;
    for (const p of mail.personalizations) {
      const fill = (text: string) =>
        Object.entries(p.substitutions ?? {}).reduce(
          (out, [token, value]) => out.split(token).join(value),
          text,
        );
      for (const to of p.to) {
        emails.push({
          messageId,
          from: mail.from.email,
          to: to.email,
          subject: fill(p.subject ?? mail.subject ?? ""),
          text: fill(mail.content?.find((c) => c.type === "text/plain")?.value ?? ""),
          customArgs: { ...mail.custom_args, ...p.custom_args },
          categories: mail.categories ?? [],
        });
      }
    }
    if (fault && "acceptThenHang" in fault) {
      calls.push({ personalizations, status: "hang" });
      return;
    }
    if (fault && "acceptThenDrop" in fault) {
      calls.push({ personalizations, status: "dropped" });
      req.socket.destroy();
      return;
    }
    calls.push({ personalizations, status: 202 });
    answer(res, 202, undefined, { "X-Message-Id": messageId });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent)
        answer(res, 500, { errors: [{ message: "fake failed", field: null, help: null }] });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    emails,
    calls,
    invalid,
    failNext: (...faults) => {
      queue.push(...faults);
    },
    setFault: (fault) => {
      standing = fault;
    },
    setLatency: (ms) => {
      latency = ms;
    },
    refuseUnnamed: (addresses) => {
      unnamed = new Set(addresses);
    },
    reset: () => {
      emails.length = 0;
      calls.length = 0;
      invalid.length = 0;
      queue = [];
      standing = undefined;
      latency = 0;
      unnamed = new Set();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface MailBody {
  personalizations: {
    to: { email: string; name?: string }[];
    subject?: string;
    substitutions?: Record<string, string>;
    custom_args?: Record<string, string>;
  }[];
  from: { email: string; name?: string };
  subject?: string;
  content?: { type: string; value: string }[];
  custom_args?: Record<string, string>;
  categories?: string[];
  template_id?: string;
}

function validate(body: unknown): SendGridError[] {
  const errors: SendGridError[] = [];
  const fail = (field: string | null, message: string) => errors.push({ message, field, help: null });
  if (typeof body !== "object" || body === null) {
    fail(null, "Bad Request");
    return errors;
  }
  const mail = body as Partial<MailBody>;
  if (!Array.isArray(mail.personalizations) || mail.personalizations.length === 0) {
    fail("personalizations", "You must have at least one personalization.");
    return errors;
  }
  if (mail.personalizations.length > 1000) {
    fail(
      "personalizations",
      `The personalization block is limited to 1000 personalizations per API request. You have provided ${mail.personalizations.length} personalizations.`,
    );
  }
  const seen = new Set<string>();
  let recipients = 0;
  mail.personalizations.forEach((p, i) => {
    if (!Array.isArray(p.to) || p.to.length === 0) {
      fail(`personalizations.${i}.to`, "The to parameter is required for all personalization objects.");
      return;
    }
    p.to.forEach((to, j) => {
      recipients += 1;
      if (typeof to?.email !== "string" || !emailPattern.test(to.email)) {
        fail(`personalizations.${i}.to.${j}.email`, "Does not contain a valid address.");
        return;
      }
      const address = to.email.toLowerCase();
      if (seen.has(address)) {
        fail(
          null,
          `Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${to.email}] in the personalizations.${i}.to field.`,
        );
      }
      seen.add(address);
    });
    if (p.subject === undefined && (typeof mail.subject !== "string" || !mail.subject)) {
      fail(`personalizations.${i}.subject`, "The subject is required.");
    }
    for (const [name, map] of [
      ["substitutions", p.substitutions],
      ["custom_args", p.custom_args],
    ] as const) {
      if (map === undefined) continue;
      if (typeof map !== "object" || map === null) {
        fail(`personalizations.${i}.${name}`, `${name} must be an object.`);
        continue;
      }
      if (Object.values(map).some((value) => typeof value !== "string")) {
        fail(`personalizations.${i}.${name}`, `${name} values must be strings.`);
      }
      if (Buffer.byteLength(JSON.stringify(map)) > 10_000) {
        fail(`personalizations.${i}.${name}`, `${name} may not exceed 10,000 bytes per personalization.`);
      }
    }
  });
  if (recipients > 1000)
    fail("personalizations", "There is a limit of 1000 total recipients (to + cc + bcc) per request.");
  if (typeof mail.from?.email !== "string" || !emailPattern.test(mail.from.email)) {
    fail("from.email", "The from email does not contain a valid address.");
  }
  if (!mail.template_id) {
    if (!Array.isArray(mail.content) || mail.content.length === 0) {
      fail("content", "Unless a valid template_id is provided, the content parameter is required.");
    } else {
      mail.content.forEach((c, i) => {
        if (typeof c?.type !== "string" || typeof c.value !== "string" || !c.value) {
          fail(`content.${i}`, "The content value must be a string at least one character in length.");
        }
      });
      if (mail.content.length > 1 && mail.content[0]?.type !== "text/plain") {
        fail("content.0.type", "If present, text/plain content must be first.");
      }
    }
  }
  if (mail.categories !== undefined) {
    if (!Array.isArray(mail.categories) || mail.categories.length > 10) {
      fail("categories", "You may not have more than 10 categories per request.");
    }
  }
  return errors;
}

/** The sender and the ops address the email tasks are configured with against this fake. */
export const MAIL_FROM = "reports@delivery.example";
export const OPS_EMAIL = "ops@delivery.example";

/** The email tasks' configuration that sends through this fake with the real SDK. */
export function sendGridConfig(fake: FakeSendGrid, overrides: Partial<EmailConfig> = {}): EmailConfig {
  return {
    transport: "sendgrid",
    key: { source: "env", apiKey: fake.apiKey },
    baseUrl: fake.url,
    mailFrom: MAIL_FROM,
    opsEmail: OPS_EMAIL,
    secretRefreshSeconds: 600,
    ...overrides,
  };
}
