/** The email tasks' variables of the function's table (../environment.ts): SendGrid, its key, the addresses. */

import { quoted } from "../../text.js";
import { secretArnPattern } from "../arns.js";
import { asText, define, isEmailAddress, urlOf } from "./variable.js";

/** A development address: where mail would come from locally when MAIL_FROM is unset and nothing is sent. */
const LOCAL_MAIL_FROM = "scheduled-jobs@localhost.localdomain";

const emailTransports = ["sendgrid", "local-mailbox"] as const;
/** Where the email tasks' messages go: SendGrid, or (an explicit local choice) the local mailbox. */
export type EmailTransportChoice = (typeof emailTransports)[number];
const secretVersionPattern = /^projects\/[^/\s]+\/secrets\/[^/\s]+\/versions\/[^/\s]+$/;

export const emailVariables = {
  EMAIL_TRANSPORT: define<EmailTransportChoice>({
    group: "email",
    doc: "`sendgrid`: the email tasks send through SendGrid, and without a readable key they fail (503) with every email still queued; `local-mailbox` (what `npm start` sets when it is given no key): nothing leaves the machine, messages go to the log and `scheduler.local_mailbox`. Never a fallback: only this variable chooses the local mailbox.",
    secret: false,
    required: "no",
    default: "sendgrid",
    example: "local-mailbox",
    parse(text, problems) {
      if ((emailTransports as readonly string[]).includes(text)) return text as EmailTransportChoice;
      problems.push(`EMAIL_TRANSPORT must be one of ${emailTransports.join(", ")}, not ${quoted(text)}`);
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_API_KEY: define<string>({
    group: "email",
    doc: "A SendGrid API key in plain text (local runs); set at most one of this, `SENDGRID_API_KEY_SECRET` and `SENDGRID_API_KEY_SECRET_ARN`.",
    secret: true,
    required: "no",
    unset:
      "with neither key, the email tasks fail (503) and every email stays queued, unless `EMAIL_TRANSPORT=local-mailbox`",
    example: "SG.xxxxxxxx.yyyyyyyy",
    parse: asText,
    write: asText,
  }),
  SENDGRID_API_KEY_SECRET: define<string>({
    group: "email",
    doc: "The Secret Manager version that holds the SendGrid API key (the name, never the key), read at run time.",
    secret: false,
    required: "no",
    unset:
      "with neither key, the email tasks fail (503) and every email stays queued, unless `EMAIL_TRANSPORT=local-mailbox`",
    deployed: "the version of the stack's SendGrid key secret",
    deployedOn: "gcp",
    example: "projects/my-project/secrets/sendgrid-api-key/versions/latest",
    parse(text, problems) {
      if (secretVersionPattern.test(text)) return text;
      problems.push(
        "SENDGRID_API_KEY_SECRET must be a Secret Manager version name: projects/<project>/secrets/<secret>/versions/<version or latest>",
      );
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_API_KEY_SECRET_ARN: define<string>({
    group: "email",
    doc: "The AWS Secrets Manager secret whose `SecretString` is the SendGrid API key (the ARN, never the key), read at run time.",
    secret: false,
    required: "no",
    unset:
      "with no key at all, the email tasks fail (503) and every email stays queued, unless `EMAIL_TRANSPORT=local-mailbox`",
    deployed: "the stack's SendGrid key secret",
    deployedOn: "aws",
    example: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:scheduled-jobs/sendgrid-api-key-AbCdEf",
    parse(text, problems) {
      if (secretArnPattern.test(text)) return text;
      problems.push(
        "SENDGRID_API_KEY_SECRET_ARN must be a Secrets Manager secret's ARN: arn:aws:secretsmanager:<region>:<account>:secret:<name>",
      );
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_BASE_URL: define<string>({
    group: "email",
    doc: "SendGrid's API root, replaced by a local fake in tests.",
    secret: false,
    required: "no",
    unset: "SendGrid's own API",
    example: "http://127.0.0.1:3030",
    parse(text, problems) {
      const url = urlOf(text);
      if (url && (url.protocol === "https:" || url.protocol === "http:")) return text;
      problems.push("SENDGRID_BASE_URL must be an http(s) URL");
      return undefined;
    },
    write: asText,
  }),
  SENDGRID_SECRET_REFRESH_SECONDS: define<number>({
    group: "email",
    doc: "How long a key read from Secret Manager or Secrets Manager is used before it is read again (rotation).",
    secret: false,
    required: "no",
    default: 600,
    example: "60",
    parse(text, problems) {
      const seconds = Number(text);
      if (Number.isInteger(seconds) && seconds >= 0) return seconds;
      problems.push("SENDGRID_SECRET_REFRESH_SECONDS must be a whole number of seconds");
      return undefined;
    },
    write: String,
  }),
  MAIL_FROM: define<string>({
    group: "email",
    doc: "The sender of every email (a sender verified in SendGrid).",
    secret: false,
    required: "with a SendGrid key",
    default: LOCAL_MAIL_FROM,
    unset: `\`${LOCAL_MAIL_FROM}\` when no key is set`,
    deployed: "`scheduled-jobs:mailFrom`",
    example: "reports@delivery.example",
    missing: "MAIL_FROM is required when a SendGrid key is configured (a sender verified in SendGrid)",
    parse(text, problems) {
      if (isEmailAddress(text)) return text;
      problems.push("MAIL_FROM must be an email address");
      return undefined;
    },
    write: asText,
  }),
  OPS_EMAIL: define<string>({
    group: "email",
    doc: "Who `alert-failed-runs` writes to; that task fails without it.",
    secret: false,
    required: "no",
    deployed: "`scheduled-jobs:opsEmail`, else `scheduled-jobs:alertEmail`",
    example: "ops@delivery.example",
    parse(text, problems) {
      if (isEmailAddress(text)) return text;
      problems.push("OPS_EMAIL must be an email address");
      return undefined;
    },
    write: asText,
  }),
};
