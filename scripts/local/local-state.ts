/**
 * Where the local stack (`npm start`) can be found by the other local tools: a small JSON file in the
 * git-ignored `.data/` folder, written when the stack is up and removed when it stops.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export interface LocalState {
  readonly pid: number;
  readonly databaseUrl: string;
  /**
   * The database is npm start's embedded one (its fixed local credentials may be shown), not one the
   * user's DATABASE_URL named (whose password is theirs and is never printed).
   */
  readonly embeddedDatabase?: boolean;
  /** The function (POST / and GET /health, /runs, /dashboard), behind authentication. */
  readonly functionUrl: string;
  /** The local-only console: the dashboard without a token, and POST /token. */
  readonly consoleUrl: string;
  /** With `--cloud aws`: the local Lambda's Invoke API URL (POST a run request for a synchronous invoke). */
  readonly lambdaInvokeUrl?: string;
  readonly startedAt: string;
}

const DATA_DIR = ".data";

/**
 * The folder of the local stack's files: `.data` under `root`, or LOCAL_DATA_DIR, which lets a second
 * stack (a test's, another checkout's) keep its database and state apart from the usual one.
 */
export function localDataDir(root = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  return env.LOCAL_DATA_DIR ? resolve(root, env.LOCAL_DATA_DIR) : join(root, DATA_DIR);
}

function stateFile(root = process.cwd()): string {
  return join(localDataDir(root), "local-stack.json");
}

export function writeLocalState(state: LocalState, root?: string): void {
  const file = stateFile(root);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
}

export function removeLocalState(root?: string): void {
  rmSync(stateFile(root), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running local stack, or undefined (no file, or its process is gone: a stale file). */
export function readLocalState(root?: string): LocalState | undefined {
  const file = stateFile(root);
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, "utf8")) as LocalState;
    return typeof state.pid === "number" && alive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}
