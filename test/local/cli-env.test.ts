/**
 * `scheduled-jobs env`: the embedded database's DATABASE_URL for the tools that read only that
 * variable (`npm run task`, `npm run migrate`), and never the password of a database the user named.
 */
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { childEnv } from "../../scripts/local/child-env.js";
import { ROOT } from "../../scripts/local/local-stack.js";
import { writeLocalState } from "../../scripts/local/local-state.js";
import { useTestDatabase } from "../helpers/database.js";

const db = useTestDatabase();

function rootWith(state: { databaseUrl: string; embeddedDatabase?: boolean } | undefined): string {
  const root = mkdtempSync(join(tmpdir(), "sj-cli-env-"));
  if (state)
    writeLocalState(
      {
        pid: process.pid,
        functionUrl: "http://localhost:1",
        consoleUrl: "http://127.0.0.1:1",
        startedAt: new Date(0).toISOString(),
        ...state,
      },
      root,
    );
  return root;
}

function cli(args: string[], root: string) {
  return runCli(args, { env: {}, now: new Date(0), root });
}

describe("scheduled-jobs env", () => {
  it("when npm start runs the embedded database, then env prints a shell line whose DATABASE_URL npm run task can use", async () => {
    const root = rootWith({ databaseUrl: db.url, embeddedDatabase: true });
    const result = await cli(["env"], root);
    expect(result).toMatchObject({ code: 0, err: "" });
    expect(result.out).toBe(`export DATABASE_URL='${db.url}'`);
    expect(JSON.parse((await cli(["env", "--json"], root)).out)).toEqual({ DATABASE_URL: db.url });

    // The documented use, through a real shell: eval the line, then the task CLI reads the variable.
    const { stdout } = await promisify(execFile)(
      "sh",
      [
        "-c",
        `eval "$(node --import tsx scripts/cli.ts env)" && node --import tsx scripts/cli.ts run --direct --json auto-cancel-unconfirmed-orders --dry-run`,
      ],
      { cwd: ROOT, env: childEnv({ LOCAL_DATA_DIR: join(root, ".data") }) },
    );
    expect(JSON.parse(stdout)).toMatchObject({ task: "auto-cancel-unconfirmed-orders", dryRun: true });
  });

  it("when npm start runs on the user's own DATABASE_URL, then env refuses and never prints its password", async () => {
    const url = new URL(db.url);
    url.password = "s3cret-of-the-user";
    const result = await cli(["env"], rootWith({ databaseUrl: url.toString(), embeddedDatabase: false }));
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/use that same DATABASE_URL/);
    expect(result.out + result.err).not.toContain("s3cret-of-the-user");
  });

  it("when npm start is not running, then env says so and exits 3", async () => {
    const result = await cli(["env"], rootWith(undefined));
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/not running: start it with `npm start`/);
  });
});
