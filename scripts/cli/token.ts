/** `token`: a development ID token for the local function, from the console `npm start` runs. */
import { EXIT, ToolError } from "../lib/exit-codes.js";
import { readLocalState } from "../local/local-state.js";
import type { CliCommand } from "./command.js";
import type { Io } from "./io.js";
import { localToken } from "./task-runs.js";

async function printToken(io: Io, json: boolean): Promise<number> {
  const local = readLocalState(io.root);
  if (!local)
    throw new ToolError(
      "unreachable",
      "the local stack is not running: start it with `npm start` (tokens are signed by its development identity)",
    );
  let token: string;
  try {
    token = await localToken(local);
  } catch (error) {
    throw new ToolError(
      "unreachable",
      `the local console at ${local.consoleUrl} did not answer: ${(error as Error).message}`,
    );
  }
  io.out(json ? JSON.stringify({ token, audience: local.functionUrl }) : token);
  return EXIT.ok;
}

export const tokenCommand: CliCommand = {
  spec: {
    synopsis: "token",
    summary: "a development ID token for the local function (npm start must be running)",
    maxArgs: 0,
    flags: {},
  },
  run: ({ io, json }) => printToken(io, json),
};
