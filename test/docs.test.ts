/**
 * The documented commands work as written. Every shell code block of README.md and docs/*.md is
 * split into commands; each one is either run, in its block's order and shell, with DATABASE_URL
 * naming a database of its own (a clone of the test template, standing in for the embedded one
 * `npm start` runs, whose state file the CLI also finds), or
 * matched by one entry of the reviewed skip list below, which says why it cannot run here. A
 * command that is neither fails the test, so a new documented command gets run or reviewed.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { childEnv } from "../scripts/local/child-env.js";
import { ROOT } from "../scripts/local/local-stack.js";
import { writeLocalState } from "../scripts/local/local-state.js";
import { runCli } from "./helpers/cli.js";
import { createTestDatabase } from "./helpers/database.js";

interface Command {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}
type Block = Command[];

/** Commands that need what this machine lacks; each entry must still match a documented command. */
const SKIPPED: readonly { pattern: RegExp; reason: string }[] = [
  { pattern: /^npm install && npm test$/, reason: "the suite this test is part of" },
  {
    pattern: /^(npm install && )?npm start$/,
    reason: "serves until stopped: test/local/start-signals.test.ts starts the real npm start",
  },
  { pattern: /^(gcloud|pulumi|cloud-sql-proxy) /, reason: "needs Google Cloud or the Pulumi CLI" },
  { pattern: /\$\(pulumi stack output /, reason: "needs a deployed Pulumi stack's outputs" },
  { pattern: /^aws |\$\(aws /, reason: "needs an AWS account and the AWS CLI" },
  {
    pattern: /localhost:5433\/|port=5433 /,
    reason: "the tunnel to a private RDS instance (docs/aws.md, step 2)",
  },
  { pattern: /^for sa in .* gcloud /s, reason: "grants on Google Cloud" },
  {
    pattern: /^PROJECT=\S+ REGION=\S+$/,
    reason: "the deploy's shell variables, used only by cloud commands",
  },
  {
    pattern: /^ME="\$\(gcloud config get-value account\)"$/,
    reason: "the deployer's gcloud account, used only by the grants below it",
  },
  {
    pattern: /^npm run new-task -- /,
    reason: "changes the project: test/new-task.test.ts runs it, and the new test, in a scratch copy",
  },
  {
    pattern: /^npx vitest run test\/tasks\//,
    reason: "the test new-task writes: test/new-task.test.ts runs it",
  },
  {
    pattern: /^npx vitest run test\/infra\/registrations\.test\.ts -u$/,
    reason: "pins a scaffolded task's resources: test/new-task.test.ts runs it after the scaffold",
  },
  {
    pattern: /^curl -sS (-X (POST|DELETE) )?http:\/\/127\.0\.0\.1:8083\/demo\//,
    reason:
      "the demo app backend of a running npm start: test/local/app-backend.test.ts runs these against one",
  },
  { pattern: /^npm ci$/, reason: "installs the packages: CI's first step (.ci/run)" },
  {
    pattern: /^npm run build$/,
    reason: "test/bundle.test.ts builds the bundle with the same code and serves it",
  },
  {
    pattern: /^npx functions-framework /,
    reason: "serves until stopped: test/bundle.test.ts serves the built bundle with functions-framework",
  },
  {
    pattern: /^psql "\$DATABASE_URL" .* -f sql\/pg_cron_/,
    reason: "needs a server with pg_cron: npm run test:pg-cron loads these scripts",
  },
  {
    pattern: /^(npm test|npm run test:reliability|npm run test:pg-cron|bash \.ci\/run)$/,
    reason: "a test suite: CI runs each (.ci/run)",
  },
];

/**
 * Commands that fail today for a reason tracked elsewhere: asserted to still fail, so an entry is
 * removed (and the command then runs) as soon as its fix lands.
 */
const KNOWN_BROKEN: readonly { pattern: RegExp; reason: string }[] = [];

/** `npm run <script>` as this test runs it: node with tsx, which is what each of these scripts is. */
const NODE_SCRIPTS = {
  cli: "scripts/cli.ts",
  task: "scripts/cli.ts run --direct --json",
  migrate: "scripts/migrate.ts",
} as const;

const PLACEHOLDER_URL = /^export DATABASE_URL=postgres:\/\/user:password@host:5432\/delivery_app$/;

function docFiles(): string[] {
  return [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((name) => name.endsWith(".md"))
      .sort()
      .map((name) => `docs/${name}`),
  ];
}

/** Drops a `#` comment that is outside quotes and starts a word. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "\\") i++;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

export function shellBlocks(file: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const block: Block = [];
    let pending: { line: number; text: string } | undefined;
    for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) {
      const text = stripComment(lines[i]!);
      if (!pending && text.trim() === "") continue;
      const current = pending ? `${pending.text}\n${text}` : text.trim();
      const start = pending?.line ?? i + 1;
      // A line ending in a backslash, or a loop, goes on to the next line.
      if (text.endsWith("\\") || (/^(for|while) /.test(current) && !/\bdone$/.test(text.trim()))) {
        pending = { line: start, text: current };
        continue;
      }
      pending = undefined;
      block.push({ file, line: start, text: current });
    }
    if (block.length > 0) blocks.push(block);
  }
  return blocks;
}

function skipReason(command: string): string | undefined {
  return SKIPPED.find((entry) => entry.pattern.test(command))?.reason;
}

/** The command as this test runs it, or undefined when it is not one this test knows how to run. */
function runnable(command: string, databaseUrl: string): string | undefined {
  if (PLACEHOLDER_URL.test(command)) return `export DATABASE_URL='${databaseUrl}'`;
  let known = false;
  const rewritten = command.replace(
    /npm run (?:-s |--silent )?(cli|task|migrate)\b( --)?/g,
    (_, script: keyof typeof NODE_SCRIPTS) => {
      known = true;
      return `node --import tsx ${NODE_SCRIPTS[script]}`;
    },
  );
  return known ? rewritten : undefined;
}

const blocks = docFiles().flatMap((file) => shellBlocks(file, readFileSync(join(ROOT, file), "utf8")));
const commands = blocks.flat();
const where = (command: Command): string => `${command.file}:${command.line}: ${command.text}`;

describe("the README's task table", () => {
  it("when the README lists the tasks, then each row is the dev stack's job as `plan --format markdown` shows it: its cron, and an override with the catalog's cron", async () => {
    const rows = [
      ...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/^\| `([a-z-]+)` \| `([^`]+)`([^|]*)\|/gm),
    ];
    const plan = await runCli(["plan", "--stack", "Pulumi.dev.yaml", "--format", "markdown"], {
      env: {},
      root: mkdtempSync(join(tmpdir(), "sj-docs-plan-")),
      now: new Date("2026-12-07T06:00:00Z"),
    });
    expect(plan.code).toBe(0);
    // The plan's calendar: | task | runner | `cron` (stack override; catalog `cron`) | ...
    const calendar = plan.out.slice(plan.out.indexOf("#### Calendar"), plan.out.indexOf("#### Cost"));
    const jobs = [
      ...calendar.matchAll(
        /^\| ([a-z-]+) \| [^|]+ \| `([^`]+)`(?: \(stack override; catalog `([^`]+)`\))? \|/gm,
      ),
    ];
    expect(jobs.length).toBeGreaterThan(0);
    expect(rows.map((row) => row[1])).toEqual(jobs.map((job) => job[1]));
    for (const [, name, cron, catalogCron] of jobs) {
      const row = rows.find((r) => r[1] === name)!;
      expect(row[2], name).toBe(cron);
      if (catalogCron !== undefined) {
        expect(row[3], name).toContain("override");
        expect(row[3], name).toContain(`\`${catalogCron}\``);
      }
    }
  });
});

describe("the docs' shell blocks", () => {
  it("when the docs are read, then they show commands to check (the extraction finds README's quick start)", () => {
    expect(commands.map((c) => c.text)).toContain("npm install && npm test");
    expect(commands.map((c) => c.text)).toContain('eval "$(npm run -s cli -- env)"');
    expect(commands.length).toBeGreaterThan(20);
  });

  it("when a documented command cannot run here, then the reviewed list says why; every entry of the list is still needed", () => {
    const unreviewed = commands.filter((c) => !skipReason(c.text) && !runnable(c.text, "postgres://x"));
    expect(unreviewed.map(where)).toEqual([]);
    const unused = SKIPPED.filter((entry) => !commands.some((c) => entry.pattern.test(c.text)));
    expect(unused.map((entry) => String(entry.pattern))).toEqual([]);
  });

  it("when this test runs npm run <script> as node --import tsx, then that is what package.json's script is", () => {
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
    ).scripts;
    for (const [name, file] of Object.entries(NODE_SCRIPTS)) expect(scripts[name]).toBe(`tsx ${file}`);
  });
});

// Each block in a database of its own, so the blocks run side by side.
describe.concurrent("the docs' local commands, run as written", () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of drops) await drop();
  });

  const runBlocks = blocks.filter((block) => block.some((c) => !skipReason(c.text)));
  for (const block of runBlocks) {
    const first = block[0]!;
    it(`${first.file}:${first.line}: ${block
      .filter((c) => !skipReason(c.text))
      .map((c) => c.text.split(" ").slice(0, 5).join(" "))
      .join("; ")}`, async () => {
      const db = await createTestDatabase();
      drops.push(() => db.drop());
      // What `npm start` leaves for the CLI: its state file, naming this block's database as the embedded one.
      const scratch = mkdtempSync(join(tmpdir(), "sj-docs-"));
      writeLocalState(
        {
          pid: process.pid,
          databaseUrl: db.url,
          embeddedDatabase: true,
          // Nothing listens here: a command that needs the running function fails instead of passing.
          functionUrl: "http://127.0.0.1:9",
          consoleUrl: "http://127.0.0.1:9",
          startedAt: new Date(0).toISOString(),
        },
        scratch,
      );
      const steps = block.filter((c) => !skipReason(c.text));
      const script = steps
        .map((c, index) => {
          const line = runnable(c.text, db.url)!;
          const broken = KNOWN_BROKEN.some((entry) => entry.pattern.test(c.text));
          return broken
            ? `if ( ${line} ); then echo "__DOC_FIXED__ ${index}" >&2; exit 1; fi`
            : `${line} || { echo "__DOC_FAILED__ ${index} exit $?" >&2; exit 1; }`;
        })
        .join("\n");
      const result = await promisify(execFile)("sh", ["-c", script], {
        cwd: ROOT,
        env: childEnv({ DATABASE_URL: db.url, LOCAL_DATA_DIR: join(scratch, ".data") }),
        maxBuffer: 16 * 1024 * 1024,
      }).then(
        (done) => ({ ok: true, ...done }),
        (error: { stdout: string; stderr: string }) => ({
          ok: false,
          stdout: error.stdout,
          stderr: error.stderr,
        }),
      );
      const failed = /__DOC_(FAILED|FIXED)__ (\d+)/.exec(result.stderr);
      const step = failed ? steps[Number(failed[2])] : undefined;
      expect(
        result.ok,
        step
          ? `${failed![1] === "FIXED" ? "fixed now: remove it from KNOWN_BROKEN" : "failed"}: ${where(step)}\n${result.stderr}`
          : result.stderr,
      ).toBe(true);
    }, 120_000);
  }
});
