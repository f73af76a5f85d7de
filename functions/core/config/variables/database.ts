/** The database variables of the function's table (../environment.ts): where it connects and how. */

import { quoted } from "../../text.js";
import { asText, define, urlOf } from "./variable.js";

const ipTypes = ["PUBLIC", "PRIVATE", "PSC"] as const;
export type IpType = (typeof ipTypes)[number];

const MAX_POOL_MAX = 50;
const instanceConnectionNamePattern = /^[a-z0-9][a-z0-9.:-]*:[a-z0-9-]+:[a-z0-9][a-z0-9-]*$/i;
/** A DNS name or an IPv4 address: what an RDS endpoint is. */
const hostPattern =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const databaseVariables = {
  DATABASE_URL: define<string>({
    group: "database",
    doc: "A PostgreSQL connection string (local runs, tests, a database outside Cloud SQL and RDS).",
    secret: true,
    required: "one of this, `INSTANCE_CONNECTION_NAME` and `DB_HOST`",
    example: "postgres://scheduler@127.0.0.1:5432/delivery_app",
    parse(text, problems) {
      const url = urlOf(text);
      if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
        problems.push("DATABASE_URL is not a postgres:// or postgresql:// URL");
        return undefined;
      }
      if (!url.hostname && !url.searchParams.get("host")) {
        problems.push("DATABASE_URL names no host");
        return undefined;
      }
      return text;
    },
    write: asText,
  }),
  INSTANCE_CONNECTION_NAME: define<string>({
    group: "database",
    doc: "The Cloud SQL instance (`<project>:<region>:<instance>`), reached through the Cloud SQL Node.js Connector with IAM database authentication.",
    secret: false,
    required: "one of this, `DATABASE_URL` and `DB_HOST`",
    deployed: "the stack's instance (`scheduled-jobs:database`)",
    deployedOn: "gcp",
    example: "my-project:europe-west1:delivery-db",
    parse(text, problems) {
      if (instanceConnectionNamePattern.test(text)) return text;
      problems.push("INSTANCE_CONNECTION_NAME must look like <project>:<region>:<instance>");
      return undefined;
    },
    write: asText,
  }),
  DB_USER: define<string>({
    group: "database",
    doc: "The IAM database user: on Cloud SQL the runtime service account's email without `.gserviceaccount.com`; on RDS the user granted `rds_iam`.",
    secret: false,
    required: "with `INSTANCE_CONNECTION_NAME` or `DB_HOST`",
    deployed: "the runtime's IAM database user",
    example: "sched-jobs-runtime@my-project.iam",
    missing:
      "DB_USER is not set (with INSTANCE_CONNECTION_NAME: the IAM database user, e.g. the service account email without .gserviceaccount.com)",
    parse: asText,
    write: asText,
  }),
  DB_NAME: define<string>({
    group: "database",
    doc: "The database on the Cloud SQL or RDS instance.",
    secret: false,
    required: "with `INSTANCE_CONNECTION_NAME` or `DB_HOST`",
    deployed: "`scheduled-jobs:database.databaseName`",
    example: "delivery_app",
    missing: "DB_NAME is not set (with INSTANCE_CONNECTION_NAME: the database to use)",
    parse: asText,
    write: asText,
  }),
  DB_IP_TYPE: define<IpType>({
    group: "database",
    // PUBLIC works from a function without a VPC connector; the connector still encrypts and
    // authorises the connection with IAM, the instance needs no authorised networks.
    doc: "Which of the instance's addresses the connector uses: `PUBLIC` (no VPC connector needed; still encrypted and IAM-authorised), `PRIVATE` or `PSC`.",
    secret: false,
    required: "no",
    default: "PUBLIC",
    example: "PRIVATE",
    parse(text, problems) {
      const ipType = text.toUpperCase();
      if ((ipTypes as readonly string[]).includes(ipType)) return ipType as IpType;
      problems.push(`DB_IP_TYPE must be one of ${ipTypes.join(", ")}`);
      return undefined;
    },
    write: asText,
  }),
  DB_HOST: define<string>({
    group: "database",
    doc: "The RDS for PostgreSQL instance's endpoint, reached over TLS verified against the bundled RDS certificate authorities, with `DB_PORT`, `DB_USER`, `DB_NAME` and `DB_IAM_AUTH`.",
    secret: false,
    required: "one of this, `DATABASE_URL` and `INSTANCE_CONNECTION_NAME`",
    deployed: "the RDS instance's address",
    deployedOn: "aws",
    example: "delivery-db.abcdefghijkl.eu-west-1.rds.amazonaws.com",
    parse(text, problems) {
      if (hostPattern.test(text)) return text;
      problems.push(`DB_HOST ${quoted(text)} is not a host name or address`);
      return undefined;
    },
    write: asText,
  }),
  DB_PORT: define<number>({
    group: "database",
    doc: "The port of `DB_HOST`.",
    secret: false,
    required: "no",
    default: 5432,
    example: "5432",
    parse(text, problems) {
      const port = /^\d+$/.test(text) ? Number(text) : NaN;
      if (Number.isInteger(port) && port >= 1 && port <= 65_535) return port;
      problems.push("DB_PORT must be a port number from 1 to 65535");
      return undefined;
    },
    write: String,
  }),
  DB_IAM_AUTH: define<boolean>({
    group: "database",
    doc: "`true`: each new connection to `DB_HOST` signs in with a fresh RDS IAM authentication token (valid 15 minutes) made in `AWS_REGION` with the function's role; the only way `DB_HOST` signs in, so a password never sits in the environment.",
    secret: false,
    required: "`true` with `DB_HOST`",
    default: false,
    deployed: "`true`",
    deployedOn: "aws",
    example: "true",
    parse(text, problems) {
      if (text === "true" || text === "false") return text === "true";
      problems.push(`DB_IAM_AUTH must be "true" or "false", not ${quoted(text)}`);
      return undefined;
    },
    write: String,
  }),
  DB_POOL_MAX: define<number>({
    group: "database",
    doc: "Connections per instance: the requests one instance serves at once, plus one to record a run's end.",
    secret: false,
    required: "no",
    default: 2,
    example: "4",
    parse(text, problems) {
      const parsed = /^\d+$/.test(text) ? Number(text) : NaN;
      if (Number.isInteger(parsed) && parsed >= 1 && parsed <= MAX_POOL_MAX) return parsed;
      problems.push(`DB_POOL_MAX must be a whole number from 1 to ${MAX_POOL_MAX}`);
      return undefined;
    },
    write: String,
  }),
};
