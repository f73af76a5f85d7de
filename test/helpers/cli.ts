/** The operator CLI run in this process, its output captured: what the CLI tests call. */
import type { Io } from "../../scripts/cli.js";
import { main } from "../../scripts/cli.js";

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs `npm run cli -- <args>` as `main` does, with the given env, clock and root (and catalog). */
export async function runCli(
  args: readonly string[],
  io: Pick<Io, "env" | "root"> & { readonly now?: Date; readonly catalog?: Io["catalog"] },
): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const now = io.now ?? new Date();
  const code = await main(args, {
    env: io.env,
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    now: () => now,
    root: io.root,
    ...(io.catalog ? { catalog: io.catalog } : {}),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}
