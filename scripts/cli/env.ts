/** `env`: the embedded database's DATABASE_URL as a shell line, for `npm run task` and `npm run migrate`. */
import { EXIT, ToolError } from "../lib/exit-codes.js";
import { readLocalState } from "../local/local-state.js";
import type { CliCommand } from "./command.js";
import { describeUrl } from "./database.js";
import type { Io } from "./io.js";

/**
 * The embedded database's URL, unmasked: its credentials are fixed local ones, and `npm run task` and
 * `npm run migrate` read only DATABASE_URL. A database the user named keeps its password unprinted.
 */
function printEnv(io: Io, json: boolean): number {
  const local = readLocalState(io.root);
  if (!local)
    throw new ToolError(
      "unreachable",
      "the local stack is not running: start it with `npm start` (its embedded database runs only while it does)",
    );
  if (local.embeddedDatabase !== true)
    throw new ToolError(
      "usage",
      `npm start runs on the database that its DATABASE_URL names (${describeUrl(local.databaseUrl)}): use that same DATABASE_URL`,
    );
  const quoted = `'${local.databaseUrl.replaceAll("'", `'\\''`)}'`;
  io.out(json ? JSON.stringify({ DATABASE_URL: local.databaseUrl }) : `export DATABASE_URL=${quoted}`);
  return EXIT.ok;
}

export const envCommand: CliCommand = {
  spec: {
    synopsis: "env",
    summary: `the embedded database's DATABASE_URL as a shell line, for npm run task and
npm run migrate: eval "$(npm run -s cli -- env)" (npm start must be running)`,
    maxArgs: 0,
    flags: {},
  },
  run: ({ io, json }) => printEnv(io, json),
};
