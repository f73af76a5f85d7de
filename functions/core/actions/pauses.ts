/**
 * The run-time pause written: pause and resume, through scheduler.pause_task and
 * scheduler.resume_task (sql/routines/), recorded with who did it. Its reader and its JSON are in
 * functions/core/reads/tick-facts.ts. The CLI's `pause` and `resume` and the dashboard's actions
 * both write through here.
 */
import type { PauseRow, Queryable } from "../reads/tick-facts.js";
import { pauseOfRow } from "../reads/tick-facts.js";
import type { RunTimePause } from "../schedule/tick-rules.js";

interface PauseRequest {
  readonly task: string;
  readonly reason: string;
  /** Who paused it: the CLI's user, the dashboard's operator (the email of their token). */
  readonly pausedBy: string;
  /** When the pause ends by itself; undefined: until resumed. */
  readonly until?: Date | undefined;
}

/** Pauses the task now (a new pause replaces the last one, in force or not); returns the pause. */
export async function pauseTask(db: Queryable, request: PauseRequest): Promise<RunTimePause> {
  const result = await db.query<PauseRow>("SELECT * FROM scheduler.pause_task($1, $2, $3, $4)", [
    request.task,
    request.reason,
    request.pausedBy,
    request.until ?? null,
  ]);
  return pauseOfRow(result.rows[0]!);
}

/** Ends the task's pause in force; returns it, ended, or undefined when none was in force. */
export async function resumeTask(
  db: Queryable,
  task: string,
  resumedBy: string,
): Promise<RunTimePause | undefined> {
  const result = await db.query<PauseRow>("SELECT * FROM scheduler.resume_task($1, $2)", [task, resumedBy]);
  const row = result.rows[0];
  return row ? pauseOfRow(row) : undefined;
}
