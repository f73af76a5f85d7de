/** The caller-check variables of the function's table (../environment.ts): which tokens it accepts, from whom. */

import { asciiLowerCase, quoted } from "../../text.js";
import type { AuthMode } from "../auth-config.js";
import { asText, checked, define, isEmailAddress, listOf, urlOf } from "./variable.js";

/** Google's OAuth2 signing certificates in PEM format (a JSON object, kid → X.509 certificate). */
export const googleCertsUrl = "https://www.googleapis.com/oauth2/v1/certs";

const authModes = ["verify", "cloud-run"] as const satisfies readonly AuthMode[];
const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]"]);

const noAudience =
  "AUTH_AUDIENCE is not set: set it to the audience of the scheduler's ID tokens (the function's URL); " +
  "without it every request is refused";
const noAllowedEmails =
  "AUTH_ALLOWED_EMAILS is not set: list the service account emails allowed to call the function " +
  "(comma-separated); without it every request is refused";

export const authVariables = {
  AUTH_MODE: define<AuthMode>({
    group: "auth",
    doc: "`verify`: the function checks every token's signature; `cloud-run`: a token whose signature Cloud Run's IAM removed after checking it is judged on its claims.",
    secret: false,
    required: "no",
    default: "verify",
    deployed: "`cloud-run`",
    deployedOn: "gcp",
    example: "cloud-run",
    parse(text, problems) {
      if ((authModes as readonly string[]).includes(text)) return text as AuthMode;
      problems.push(`AUTH_MODE must be "verify" or "cloud-run", not ${quoted(text)}`);
      return undefined;
    },
    write: asText,
  }),
  AUTH_AUDIENCE: define<readonly string[]>({
    group: "auth",
    doc: "The accepted audiences of callers' ID tokens, comma-separated: the function's URL.",
    secret: false,
    required: "yes",
    deployed: "the function's own URL",
    deployedOn: "gcp",
    example: "https://scheduled-tasks-123456789012.europe-west1.run.app",
    missing: noAudience,
    parse(text, problems) {
      const audiences = listOf(text);
      return checked(problems, () => {
        if (audiences.length === 0) problems.push(noAudience);
        for (const audience of audiences) {
          if (/\s/.test(audience))
            problems.push(`AUTH_AUDIENCE entry ${quoted(audience)} contains whitespace`);
        }
        return audiences;
      });
    },
    write: (audiences) => audiences.join(","),
  }),
  AUTH_ALLOWED_EMAILS: define<readonly string[]>({
    group: "auth",
    doc: "The service account emails allowed to call the function, comma-separated (compared ASCII case-insensitively).",
    secret: false,
    required: "yes",
    deployed:
      "the scheduler's service account, and the Monitoring service agent when the dead-man checks are on (it may only read /health)",
    deployedOn: "gcp",
    example: "sched-jobs-scheduler@my-project.iam.gserviceaccount.com",
    missing: noAllowedEmails,
    parse(text, problems) {
      const emails = listOf(text).map(asciiLowerCase);
      return checked(problems, () => {
        if (emails.length === 0) problems.push(noAllowedEmails);
        for (const email of emails) {
          if (!isEmailAddress(email)) {
            problems.push(`AUTH_ALLOWED_EMAILS entry ${quoted(email)} is not an email address`);
          }
        }
        return emails;
      });
    },
    write: (emails) => emails.join(","),
  }),
  OPERATOR_EMAILS: define<readonly string[]>({
    group: "auth",
    doc: "The people allowed to act from the dashboard (pause, resume, run now, replay a failed tick), comma-separated; callers too, so their tokens are accepted like those of `AUTH_ALLOWED_EMAILS`. Never the scheduler's account: it may run tasks, not pause them.",
    secret: false,
    required: "no",
    unset: "nobody may act from the dashboard; it only shows",
    deployed: "`scheduled-jobs:operators`",
    deployedOn: "gcp",
    example: "alice@example.com,bob@example.com",
    parse(text, problems) {
      const emails = listOf(text).map(asciiLowerCase);
      return checked(problems, () => {
        for (const email of emails) {
          if (!isEmailAddress(email))
            problems.push(`OPERATOR_EMAILS entry ${quoted(email)} is not an email address`);
        }
        return emails;
      });
    },
    write: (emails) => emails.join(","),
    omit: (emails) => emails.length === 0,
  }),
  AUTH_CERTS_URL: define<string>({
    group: "auth",
    doc: "Where the token-signing certificates are (Google's PEM format or a JWK set); `https`, or `http` on loopback only.",
    secret: false,
    required: "no",
    default: googleCertsUrl,
    example: "http://127.0.0.1:9999/oauth2/v1/certs",
    parse(text, problems) {
      const url = urlOf(text);
      if (!url) {
        problems.push(`AUTH_CERTS_URL ${quoted(text)} is not a URL`);
        return undefined;
      }
      // Whoever serves the certificates decides which tokens are genuine: plain HTTP only on loopback.
      const loopback = loopbackHosts.has(url.hostname);
      if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
        problems.push(`AUTH_CERTS_URL ${quoted(text)} must use https (plain http only for localhost)`);
        return undefined;
      }
      return text;
    },
    write: asText,
  }),
};
