/**
 * The function's environment contract (functions/core/config/environment.ts): one table that the function reads
 * through, every writer writes through, and docs/configuration.md is generated from.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Env } from "../functions/core/config/function-config.js";
import { parseConfig } from "../functions/core/config/function-config.js";
import type { VariableName } from "../functions/core/config/environment.js";
import {
  EnvironmentError,
  environment,
  problemsWith,
  readVariable,
  variables,
  writeEnvironment,
} from "../functions/core/config/environment.js";
import { parseLambdaConfig } from "../functions/aws/config.js";
import { configurationDocPath, renderConfigurationDoc } from "../scripts/generate/config-docs.js";

/**
 * Every variable at its example, less the ones that exclude those kept (one database, one key, one
 * project variable), so between them the three read every variable.
 */
function examples(without: readonly VariableName[]): Record<string, string> {
  return Object.fromEntries(
    variables
      .filter((variable) => !without.includes(variable.name as VariableName))
      .map((variable) => [variable.name, variable.example]),
  );
}
// EMAIL_TRANSPORT's example (the local mailbox) excludes a key: both set are a problem.
const withUrl = examples([
  "INSTANCE_CONNECTION_NAME",
  "DB_HOST",
  "SENDGRID_API_KEY_SECRET",
  "SENDGRID_API_KEY_SECRET_ARN",
  "GOOGLE_CLOUD_PROJECT",
  "EMAIL_TRANSPORT",
]);
const withCloudSql = examples([
  "DATABASE_URL",
  "DB_HOST",
  "SENDGRID_API_KEY",
  "SENDGRID_API_KEY_SECRET_ARN",
  "EMAIL_TRANSPORT",
]);
/** The Lambda's: RDS with IAM sign-in, the key in Secrets Manager. */
const withRds = examples([
  "DATABASE_URL",
  "INSTANCE_CONNECTION_NAME",
  "SENDGRID_API_KEY",
  "SENDGRID_API_KEY_SECRET",
  "EMAIL_TRANSPORT",
]);

/** An environment that records which variables are looked at. */
function recording(env: Env, read: Set<string>): Env {
  return new Proxy(env, {
    get(target, name) {
      if (typeof name === "string") read.add(name);
      return Reflect.get(target, name) as unknown;
    },
    has(target, name) {
      if (typeof name === "string") read.add(name);
      return Reflect.has(target, name);
    },
  });
}

describe("the environment contract", () => {
  it.each(variables.map((variable) => [variable.name, variable] as const))(
    "when %s holds its documented example, then its parser accepts it and its writer writes back what reads the same",
    (_name, variable) => {
      const problems: string[] = [];
      const value = variable.parse(variable.example, problems);
      expect(problems).toEqual([]);
      expect(value).toBeDefined();
      const again: string[] = [];
      expect(variable.parse(variable.write(value), again)).toEqual(value);
      expect(again).toEqual([]);
    },
  );

  it("when every variable holds its example, then the function starts, and it looked at exactly the table's variables", () => {
    const read = new Set<string>();
    for (const env of [withUrl, withCloudSql]) {
      const { config, problems } = parseConfig(recording(env, read));
      expect(problems).toEqual([]);
      expect(config).toBeDefined();
    }
    const lambda = parseLambdaConfig(recording(withRds, read));
    expect(lambda.problems).toEqual([]);
    expect(lambda.config).toBeDefined();
    // NODE_ENV is functions-framework's, read before the function's code loads.
    const table = variables.map((variable) => variable.name).filter((name) => name !== "NODE_ENV");
    expect([...read].sort()).toEqual(table.sort());
  });

  it("when a secret variable holds a bad value, then no problem quotes it", () => {
    const secret = "Sup3rSecret";
    const env: Record<string, string> = {};
    for (const variable of variables.filter((candidate) => candidate.secret)) {
      env[variable.name] = `mysql://app:${secret}@db/x`;
      expect(problemsWith(variable.name as VariableName, `<${secret}>`).join("\n")).not.toContain(secret);
    }
    // A key that clashes with the other key source is a problem too.
    const { problems } = parseConfig({ ...env, SENDGRID_API_KEY_SECRET: "projects/p/secrets/s/versions/1" });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join("\n")).not.toContain(secret);
  });

  it("when a writer hands over values, then each is written as the function reads it, and a value that means unset is left out", () => {
    expect(
      writeEnvironment({
        AUTH_AUDIENCE: ["https://a.example", "https://b.example"],
        AUTH_ALLOWED_EMAILS: ["scheduler@p.iam.gserviceaccount.com"],
        DB_POOL_MAX: 6,
        TASK_OVERRIDES: {},
        OPS_EMAIL: undefined,
      }),
    ).toEqual({
      AUTH_AUDIENCE: "https://a.example,https://b.example",
      AUTH_ALLOWED_EMAILS: "scheduler@p.iam.gserviceaccount.com",
      DB_POOL_MAX: "6",
    });
  });

  it("when a writer hands over a value the function would refuse, then writing fails naming each variable", () => {
    let error: unknown;
    try {
      writeEnvironment({ MAIL_FROM: "<jobs@delivery.example>", AUTH_AUDIENCE: [], DB_POOL_MAX: 0 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).problems).toEqual([
      "MAIL_FROM must be an email address",
      "AUTH_AUDIENCE would be empty, which the function reads as unset",
      "DB_POOL_MAX must be a whole number from 1 to 50",
    ]);
  });

  it("when a variable is blank, then it reads as unset: its default", () => {
    const problems: string[] = [];
    expect(readVariable({ DB_POOL_MAX: "  " }, "DB_POOL_MAX", problems)).toBe(2);
    expect(readVariable({ DB_POOL_MAX: " 7 " }, "DB_POOL_MAX", problems)).toBe(7);
    expect(readVariable({}, "MAIL_FROM", problems)).toBe("scheduled-jobs@localhost.localdomain");
    expect(problems).toEqual([]);
  });

  it("when the table names a variable, then its name is its key", () => {
    for (const [name, variable] of Object.entries(environment)) expect(variable.name).toBe(name);
  });
});

describe("docs/configuration.md", () => {
  it("when the table changes, then the document must be regenerated (npm run docs:generate)", () => {
    expect(readFileSync(configurationDocPath, "utf8")).toBe(renderConfigurationDoc());
  });

  it("when generated, then every variable has a row with its requirement", () => {
    const doc = renderConfigurationDoc();
    for (const variable of variables) {
      expect(doc).toMatch(
        new RegExp(`^\\| \`${variable.name}\`.*\\| ${variable.required.replace(/[`]/g, ".")} \\|`, "m"),
      );
    }
  });
});
