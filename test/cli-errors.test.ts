/**
 * The command line tools as a newcomer meets them: a database they cannot use named for its cause,
 * one exit-code table for `cli`, `task` and `migrate`, `missed` on a new stack, flag typos and
 * --help, against the real embedded PostgreSQL and a port nothing listens on.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { commandNames } from "../scripts/cli.js";
import { runCli } from "./helpers/cli.js";
import { main as migrateMain } from "../scripts/migrate.js";
import { childEnv } from "../scripts/local/child-env.js";
import { freePort } from "../scripts/local/embedded-postgres.js";
import { UsageError } from "../scripts/lib/args.js";
import { exitCodes, ToolError } from "../scripts/lib/exit-codes.js";
import { main as newTaskMain } from "../scripts/new-task.js";
import { ROOT } from "../scripts/local/local-stack.js";
import { databaseUrl, useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();
const emptyRoot = mkdtempSync(join(tmpdir(), "sj-cli-errors-"));
const created: string[] = [];

afterAll(async () => {
  const admin = new pg.Client({ connectionString: inject("adminDatabaseUrl") });
  await admin.connect();
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});

/** A database with nothing in it: no app tables, no scheduler schema. */
async function emptyDatabase(): Promise<string> {
  const name = `sj_empty_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: inject("adminDatabaseUrl") });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  await admin.end();
  created.push(name);
  return databaseUrl(name);
}

function cli(args: string[], env: Record<string, string | undefined>, now = new Date()) {
  return runCli(args, { env, now, root: emptyRoot });
}

async function migrate(args: string[], url: string | undefined) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await migrateMain(args, {
    env: { DATABASE_URL: url },
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function npm(args: string[], env: Record<string, string | undefined> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(
      "npm",
      ["run", "--silent", ...args],
      { cwd: ROOT, env: childEnv(env) },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const withUrl = (change: (url: URL) => void): string => {
  const url = new URL(db.url);
  change(url);
  return url.toString();
};

describe("a database the tools cannot use is named for its cause (exit 3), never with the password", () => {
  it("when the password is wrong, then: authentication failed for user X", async () => {
    const url = withUrl((u) => (u.password = "wrong-pw-123"));
    const user = decodeURIComponent(new URL(url).username);
    const health = await cli(["health"], { DATABASE_URL: url });
    expect(health.code).toBe(3);
    expect(health.err).toContain(`authentication failed for user "${user}"`);
    expect(health.err).not.toContain("wrong-pw-123");
    const migrated = await migrate([], url);
    expect(migrated.code).toBe(3);
    expect(migrated.err).toContain(`authentication failed for user "${user}"`);
    expect(migrated.err).not.toContain("wrong-pw-123");
  });

  it("when the database does not exist, then: database Y does not exist", async () => {
    const url = withUrl((u) => (u.pathname = "/no_such_db_here"));
    const history = await cli(["history"], { DATABASE_URL: url });
    expect(history.code).toBe(3);
    expect(history.err).toContain('database "no_such_db_here" does not exist');
    const run = await cli(["run", "generate-daily-stats", "--direct"], { DATABASE_URL: url });
    expect(run.code).toBe(3);
    expect(run.err).toContain('database "no_such_db_here" does not exist');
  });

  it("when nothing listens on the port, then: nothing listens on host:port", async () => {
    const port = await freePort();
    const url = withUrl((u) => (u.port = String(port)));
    const health = await cli(["health", "--json"], { DATABASE_URL: url });
    expect(health.code).toBe(3);
    expect(JSON.parse(health.err)).toMatchObject({
      error: {
        code: "unreachable",
        exitCode: 3,
        message: expect.stringContaining(`nothing listens on 127.0.0.1:${port}`),
      },
    });
  });

  it("when the host is unknown, then it says which host", async () => {
    const url = withUrl((u) => (u.hostname = "no-such-host.invalid"));
    const health = await cli(["health"], { DATABASE_URL: url });
    expect(health.code).toBe(3);
    // ENOTFOUND, or EAI_AGAIN where no resolver answers at all: either names the host.
    expect(health.err).toMatch(
      /(unknown host|could not be resolved).*"no-such-host\.invalid"|"no-such-host\.invalid".*could not be resolved/,
    );
  });

  it("when the URL is malformed, then it says so without echoing it", async () => {
    const health = await cli(["health"], { DATABASE_URL: "postgres//ops:pw-in-url@db" });
    expect(health.code).toBe(3);
    expect(health.err).toMatch(/DATABASE_URL is not a URL/);
    expect(health.err).not.toContain("pw-in-url");
    const scheme = await migrate([], "mysql://ops@db/app");
    expect(scheme.code).toBe(3);
    expect(scheme.err).toMatch(/must start with postgres:\/\//);
  });
});

describe("one exit-code table", () => {
  it("when docs/cli.md is read, then it lists every exit code with its meaning", () => {
    const doc = readFileSync(join(ROOT, "docs", "cli.md"), "utf8");
    for (const { code, meaning } of Object.values(exitCodes))
      expect(doc).toContain(`| ${code} | ${meaning} |`);
  });

  it("when health cannot read its tables, then it exits 4, not 1: a monitor tells unhealthy, unreachable and broken apart", async () => {
    const url = await emptyDatabase();
    const health = await cli(["health"], { DATABASE_URL: url });
    expect(health.code).toBe(4);
    expect(health.err).toMatch(/job_health/);
  });
});

describe("one error type for every tool: cli, task, migrate and new-task", () => {
  function newTask(args: string[], root: string) {
    const out: string[] = [];
    const err: string[] = [];
    const code = newTaskMain(args, { out: (t) => out.push(t), err: (t) => err.push(t), root });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  it("when each tool fails, then it exits with the table's code for what went wrong", async () => {
    const usage = exitCodes.usage.code;
    expect((await cli(["histroy"], { DATABASE_URL: db.url })).code).toBe(usage);
    // `npm run task -- <args>` is `run --direct --json <args>` (package.json).
    expect((await cli(["run", "--direct", "--json", "no-such-task"], { DATABASE_URL: db.url })).code).toBe(
      usage,
    );
    expect((await migrate(["stray-word"], db.url)).code).toBe(usage);
    expect(newTask(["Bad_Name", "--sql"], ROOT)).toMatchObject({
      code: usage,
      err: expect.stringMatching(/^new-task: "Bad_Name"/),
    });

    const nobody = `postgres://nobody:nothing@127.0.0.1:${await freePort()}/none`;
    expect((await cli(["history"], { DATABASE_URL: nobody })).code).toBe(exitCodes.unreachable.code);
    expect((await migrate([], nobody)).code).toBe(exitCodes.unreachable.code);

    // A project whose catalog is not the shape new-task writes into: not a usage error, and nothing written.
    const project = mkdtempSync(join(tmpdir(), "sj-new-task-shape-"));
    mkdirSync(join(project, "functions", "core"), { recursive: true });
    writeFileSync(join(project, "functions", "core", "catalog.ts"), "export const tasks = [];\n");
    const changed = newTask(["purge-stale-carts", "--sql"], project);
    expect(changed.code).toBe(exitCodes.error.code);
    expect(changed.err).toMatch(/^new-task: functions\/core\/catalog\.ts has changed shape/);
    expect(readdirSync(join(project, "functions", "core"))).toEqual(["catalog.ts"]);
    expect(readFileSync(join(project, "functions", "core", "catalog.ts"), "utf8")).toBe(
      "export const tasks = [];\n",
    );
  });

  it("when the tools' sources are read, then only scripts/lib/exit-codes.ts declares an error class, and the parser's is one of it", () => {
    const sources = ["scripts", "scripts/cli", "scripts/lib"].flatMap((dir) =>
      readdirSync(join(ROOT, dir))
        .filter((name) => name.endsWith(".ts"))
        .map((name) => `${dir}/${name}`),
    );
    expect(sources).toEqual(
      expect.arrayContaining(["scripts/cli.ts", "scripts/migrate.ts", "scripts/new-task.ts"]),
    );
    const declaring = sources.filter((file) =>
      /class \w+ extends Error\b/.test(readFileSync(join(ROOT, file), "utf8")),
    );
    expect(declaring).toEqual(["scripts/lib/exit-codes.ts"]);
    const usage = new UsageError("x");
    expect(usage).toBeInstanceOf(ToolError);
    expect(usage.exit).toBe("usage");
  });
});

describe("missed, on a stack whose history has just begun", () => {
  const now = new Date("2031-03-04T10:00:30Z");

  it("when no run is recorded, then nothing counts as missed, and it says why", async () => {
    const url = await emptyDatabase();
    expect((await migrate(["--with-app-schema"], url)).code).toBe(0);
    const json = await cli(["missed", "--json"], { DATABASE_URL: url }, now);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.out) as { historyBegins: string | null; tasks: { missed: string[] }[] };
    expect(report.historyBegins).toBeNull();
    expect(report.tasks.every((task) => task.missed.length === 0)).toBe(true);
    const text = await cli(["missed"], { DATABASE_URL: url }, now);
    expect(text.out).toMatch(/No run is recorded yet/);
  });

  it("when the history began ten minutes ago, then only the ticks since count, each printed as a command that runs as printed", async () => {
    const url = await emptyDatabase();
    expect((await migrate(["--with-app-schema"], url)).code).toBe(0);
    const pool = new pg.Pool({ connectionString: url });
    await pool.query(
      "INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at) VALUES ('generate-daily-stats', 'cli', 'succeeded', $1, $1)",
      [new Date(now.getTime() - 10 * 60_000)],
    );
    await pool.end();
    const json = await cli(["missed", "--json"], { DATABASE_URL: url }, now);
    const report = JSON.parse(json.out) as {
      countedFrom: string;
      tasks: { task: string; missed: string[] }[];
    };
    expect(report.countedFrom).toBe(new Date(now.getTime() - 10 * 60_000).toISOString());
    const everyMinute = report.tasks.find((task) => task.task === "auto-cancel-unconfirmed-orders")!;
    expect(everyMinute.missed.length).toBeGreaterThan(0);
    expect(everyMinute.missed.length).toBeLessThanOrEqual(10);

    const text = await cli(["missed"], { DATABASE_URL: url }, now);
    expect(text.out).toMatch(/when the run history begins/);
    const printed = text.out
      .split("\n")
      .find((line) => line.includes("run auto-cancel-unconfirmed-orders --slot"));
    expect(printed).toBeDefined();
    const words = printed!.trim().split(/\s+/);
    expect(words.slice(0, 4)).toEqual(["npm", "run", "cli", "--"]);
    // As printed (with --json added to read the outcome), from the project's directory.
    const ran = await npm([...words.slice(2), "--direct", "--json"], { DATABASE_URL: url });
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toMatchObject({
      task: "auto-cancel-unconfirmed-orders",
      status: "succeeded",
    });
  });
});

describe("flags: one parser for cli, task and migrate", () => {
  it("when a flag or command is mistyped, then the message names it and suggests the right one, without Node's hint", async () => {
    const flag = await cli(["history", "--lmit", "5"], { DATABASE_URL: db.url });
    expect(flag.code).toBe(2);
    expect(flag.err).toContain("unknown option --lmit (did you mean --limit?)");
    expect(flag.err).not.toContain("To specify a positional argument");
    const command = await cli(["histroy"], { DATABASE_URL: db.url });
    expect(command.err).toContain('unknown command "histroy" (did you mean history?)');
    const value = await cli(["history", "--limit"], { DATABASE_URL: db.url });
    expect(value.err).toContain("--limit needs a value");
  });

  it("when --json is asked for, then a usage error is one JSON object on stderr", async () => {
    const result = await cli(["run", "generate-daily-stats", "--forse", "--json"], { DATABASE_URL: db.url });
    expect(result.code).toBe(2);
    expect(result.out).toBe("");
    expect(JSON.parse(result.err)).toEqual({
      error: {
        code: "usage",
        exitCode: 2,
        message: expect.stringContaining("unknown option --forse (did you mean --force?)"),
      },
    });
  });

  it("when --help follows any command, then that command's usage is printed and it exits 0", async () => {
    for (const command of commandNames) {
      const help = await cli([command, "--help"], {});
      expect(help.code, command).toBe(0);
      expect(help.out, command).toMatch(new RegExp(`^Usage: npm run cli -- ${command}`));
      expect(help.out, command).toContain("Exit codes:");
    }
    const migrateHelp = await migrate(["--help"], undefined);
    expect(migrateHelp.code).toBe(0);
    expect(migrateHelp.out).toMatch(/^Usage: npm run migrate --/);
  });

  it("when `npm run task -- --help` runs, then it prints the usage and exits 0", async () => {
    const help = await npm(["task", "--", "--help"]);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain("npm run task -- <task> [--dry-run] [--force]");
  });

  it("when migrate is given a word that is not a flag, then it is refused, not taken for the --grant-to role", async () => {
    const url = await emptyDatabase();
    const stray = await migrate(["--with-app-schema", "my-role"], url);
    expect(stray.code).toBe(2);
    expect(stray.err).toContain('unexpected argument "my-role"');
    const missing = await migrate(["--grant-to"], url);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("--grant-to needs a value");
  });

  it("when `npm run migrate -- --with-app-schema` runs on an empty database, then it migrates and exits 0", async () => {
    const url = await emptyDatabase();
    const plain = await migrate([], url);
    expect(plain.code).toBe(4);
    expect(plain.err).toContain("--with-app-schema creates them");
    const migrated = await npm(["migrate", "--", "--with-app-schema"], { DATABASE_URL: url });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain("applied sql/schema.sql");
  });
});
