/** The platform variables of the function's table (../environment.ts): what the runtime sets or reads. */

import { quoted } from "../../text.js";
import { asText, define } from "./variable.js";

export const platformVariables = {
  AWS_REGION: define<string>({
    group: "platform",
    doc: "The AWS Region the function runs in, set by Lambda: where the RDS IAM authentication token is made for, and the Region the local stack's loopback http targets are signed for.",
    secret: false,
    required: "with `DB_IAM_AUTH=true`",
    deployed: "set by Lambda itself",
    deployedOn: "aws",
    example: "eu-west-1",
    missing: "AWS_REGION is not set: DB_IAM_AUTH needs the Region its token is made for (Lambda sets it)",
    parse(text, problems) {
      if (/^[a-z]{2}(-[a-z]+)+-\d+$/.test(text)) return text;
      problems.push(`AWS_REGION ${quoted(text)} is not an AWS Region name, e.g. eu-west-1`);
      return undefined;
    },
    write: asText,
  }),
  GOOGLE_CLOUD_PROJECT: define<string>({
    group: "platform",
    doc: "The project id for the trace field of log lines (`projects/<id>/traces/<trace>`), and where google-auth-library finds the project before it mints an http task's ID token (without it, it tries gcloud, then the metadata server).",
    secret: false,
    required: "no",
    unset: "`GCP_PROJECT`; without either, log lines carry no trace field",
    deployed: "the stack's project (`gcp:project`)",
    deployedOn: "gcp",
    example: "my-project",
    parse: asText,
    write: asText,
  }),
  GCP_PROJECT: define<string>({
    group: "platform",
    doc: "The project id where `GOOGLE_CLOUD_PROJECT` is unset (older runtimes set this one).",
    secret: false,
    required: "no",
    example: "my-project",
    parse: asText,
    write: asText,
  }),
  NODE_ENV: define<string>({
    group: "platform",
    doc: "Read by functions-framework: `production` keeps a thrown error's message out of its own answers.",
    secret: false,
    required: "no",
    deployed: "`production`",
    example: "production",
    parse: asText,
    write: asText,
  }),
};
