/**
 * The Lambda bundle's cold start: everything is bundled (Lambda installs nothing), yet a SQL task's
 * path loads no AWS SDK module, at module load or during its run: the RDS signer and the Secrets
 * Manager client sit in chunks of their own that only a deployment on RDS, or an email task reading
 * its key, imports, and the SigV4 signer in one only an http task's run imports. A module-loading hook in a child process sees which of the bundle's files load.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeEnvironment } from "../../functions/core/config/environment.js";
import type { LambdaBuildResult } from "../../scripts/generate/lambda-bundle.js";
import { buildLambda } from "../../scripts/generate/lambda-bundle.js";
import { childEnv } from "../../scripts/local/child-env.js";
import { useTestDatabase } from "../helpers/database.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const GROUP = "arn:aws:scheduler:us-east-1:123456789012:schedule-group/scheduled-jobs";
const SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:scheduled-jobs/sendgrid-AbCdEf";
const db = useTestDatabase();
let built: LambdaBuildResult;

beforeAll(async () => {
  built = await buildLambda(join(root, "dist", `.test-lambda-${randomBytes(4).toString("hex")}`));
}, 120_000);
afterAll(() => {
  if (built) rmSync(built.outDir, { recursive: true, force: true });
});

/** The packages bundled into these loaded files of the bundle. */
function packagesIn(files: readonly string[]): string[] {
  const names = new Set<string>();
  for (const file of files) {
    const output = built.files.find((candidate) => join(built.outDir, candidate.path) === file);
    for (const input of output?.inputs ?? []) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(
        input.slice(input.lastIndexOf("node_modules/")),
      );
      if (match) names.add(match[1]!);
    }
  }
  return [...names].sort();
}

/** The project's own source files bundled into these loaded files of the bundle. */
function sourcesIn(files: readonly string[]): string[] {
  return built.files
    .filter((output) => files.includes(join(built.outDir, output.path)))
    .flatMap((output) => output.inputs.filter((input) => !input.includes("node_modules/")));
}

const aws = (names: readonly string[]): string[] =>
  names.filter(
    (name) => name.startsWith("@aws-sdk/") || name.startsWith("@smithy/") || name.startsWith("@aws-crypto/"),
  );

describe("the Lambda bundle's cold start", () => {
  it("when it loads and runs a SQL task, then no AWS SDK module is loaded; an email task reading its key from Secrets Manager loads one, an http task the signer", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", join(root, "test", "aws", "fixtures", "bundle-load-probe.ts"), built.entry],
      {
        cwd: root,
        env: childEnv({
          ...writeEnvironment({
            DATABASE_URL: db.url,
            SCHEDULE_GROUP_ARN: GROUP,
            SENDGRID_API_KEY_SECRET_ARN: SECRET,
            MAIL_FROM: "reports@delivery.example",
            HTTP_TARGETS: {
              "app-backend": { url: "http://127.0.0.1:9", audience: "http://127.0.0.1:9", internal: true },
            },
          }),
          // No credentials and no instance metadata: the SDK's credential chain fails at once.
          AWS_REGION: "us-east-1",
          AWS_EC2_METADATA_DISABLED: "true",
        }),
      },
    );
    const probe = JSON.parse(stdout.trim().split("\n").pop()!) as {
      sql: { status: string };
      email: { error?: { code: string; message: string } };
      atLoad: string[];
      afterSql: string[];
      afterEmail: string[];
      http: { error?: { code: string; message: string } };
      afterHttp: string[];
    };
    expect(probe.sql.status).toBe("succeeded");
    expect(probe.atLoad).toContain(built.entry);
    expect(aws(packagesIn(probe.atLoad))).toEqual([]);
    expect(packagesIn(probe.afterSql)).toContain("pg");
    expect(aws(packagesIn(probe.afterSql))).toEqual([]);
    // The same hook sees the SDK once the email task asked Secrets Manager for its key (and was
    // refused for want of credentials, failing closed): the check can tell.
    expect(probe.email.error).toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/Secrets Manager/),
    });
    expect(aws(packagesIn(probe.afterEmail))).toContain("@aws-sdk/client-secrets-manager");
    // The signer loads with the first http task, which finds no role's keys here and fails closed.
    expect(sourcesIn(probe.afterEmail)).not.toContain("functions/aws/sigv4.ts");
    expect(probe.http.error).toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/no identity for app-backend/),
    });
    expect(sourcesIn(probe.afterHttp)).toContain("functions/aws/sigv4.ts");
    expect(aws(packagesIn(probe.afterHttp))).toContain("@smithy/signature-v4");
  });
});
