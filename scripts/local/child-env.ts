/**
 * The environment of a child process that must run as the cloud runs it: only what it is given,
 * plus what makes it a process of this machine (PATH, HOME) and of this clock. A test run under a
 * shifted clock (`faketime '+400 days' npm test` in CI) preloads libfaketime through LD_PRELOAD
 * and configures it through FAKETIME*; a child that lost those would live a year earlier than its
 * parent and refuse the parent's tokens as "issued in the future". A child inherits the clock it
 * was started under.
 */
import type { ChildProcess } from "node:child_process";

type ChildEnv = Record<string, string>;

/** The variables that carry the process's clock (libfaketime's preload and settings, TZ). */
function clockEnv(env: NodeJS.ProcessEnv = process.env): ChildEnv {
  const carried: ChildEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (name === "LD_PRELOAD" || name === "TZ" || name === "FAKETIME" || name.startsWith("FAKETIME_")) {
      carried[name] = value;
    }
  }
  return carried;
}

/** PATH, HOME and the clock of this process, then `extra`. */
export function childEnv(extra: Readonly<Record<string, string | undefined>> = {}): ChildEnv {
  const env: ChildEnv = { ...clockEnv() };
  if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}

/** True when this process runs under libfaketime (the shifted-clock pass of CI). */
export function underShiftedClock(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.LD_PRELOAD ?? "").includes("faketime");
}

/** Hands each non-empty line a child writes (stdout and stderr) to `onLine`, as it completes. */
export function forwardLines(child: ChildProcess, onLine: ((line: string) => void) | undefined): void {
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) onLine?.(line);
    });
  }
}
