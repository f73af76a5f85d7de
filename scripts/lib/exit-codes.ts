/**
 * The exit codes of every command line tool here (`npm run cli`, `npm run task`, `npm run migrate`,
 * `npm run new-task`): one table, so a script or a monitor reads the same number the same way
 * whichever tool it ran, and one error type that names its row. docs/cli.md lists the table
 * (test/cli-errors.test.ts holds the two together).
 */
export const exitCodes = {
  ok: {
    code: 0,
    meaning: "done: the run succeeded, was skipped, was a duplicate or found the task paused; health is fine",
  },
  failed: {
    code: 1,
    meaning:
      "a run failed (a backfill or replay stopped at a run that did not succeed: failed, lock held, paused), or `health` found a task whose last run failed or that is overdue, or `plan --exit-code` found a warning",
  },
  usage: { code: 2, meaning: "bad usage: unknown command, task or flag, a malformed value" },
  unreachable: {
    code: 3,
    meaning:
      "the database cannot be reached (refused, unknown host, authentication, no such database, malformed URL) or the local stack is not running",
  },
  error: {
    code: 4,
    meaning: "anything else stopped the command (e.g. the database is not migrated); the message says what",
  },
} as const;

export type ExitName = keyof typeof exitCodes;

export const EXIT: { readonly [name in ExitName]: (typeof exitCodes)[name]["code"] } = {
  ok: exitCodes.ok.code,
  failed: exitCodes.failed.code,
  usage: exitCodes.usage.code,
  unreachable: exitCodes.unreachable.code,
  error: exitCodes.error.code,
};

/** The table as text, for --help. */
export function exitCodeLines(): string {
  return Object.values(exitCodes)
    .map(({ code, meaning }) => `  ${code}  ${meaning}`)
    .join("\n");
}

/**
 * What stops a tool: the row of the table it exits with, and the message it prints. Every tool
 * throws this (the argument parser's UsageError is one), and its `main` turns it into the code.
 */
export class ToolError extends Error {
  constructor(
    readonly exit: ExitName,
    message: string,
  ) {
    super(message);
  }
}
