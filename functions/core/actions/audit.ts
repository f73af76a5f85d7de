/**
 * The record of what operators did from the dashboard, scheduler.operator_actions: who, when, to
 * which task, what they asked and what came of it. Written by every action
 * (functions/core/actions/operator-actions.ts), read by the task's page.
 */
import type { Queryable } from "../reads/tick-facts.js";

export type ActionName = "pause" | "resume" | "run" | "replay";

export interface ActionRecord {
  readonly id: string;
  readonly at: string;
  readonly operator: string;
  readonly action: ActionName;
  readonly task: string;
  readonly request: Readonly<Record<string, unknown>>;
  readonly runId: string | null;
  readonly outcome: string;
}

/** Records one action; returns its id. */
export async function recordAction(db: Queryable, entry: Omit<ActionRecord, "id" | "at">): Promise<string> {
  const result = await db.query<{ id: string }>(
    `INSERT INTO scheduler.operator_actions (operator, action, task, request, run_id, outcome)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [entry.operator, entry.action, entry.task, JSON.stringify(entry.request), entry.runId, entry.outcome],
  );
  return String(result.rows[0]!.id);
}

/** The latest actions on a task, newest first. */
export async function recentActions(db: Queryable, task: string, limit = 20): Promise<ActionRecord[]> {
  const result = await db.query<{
    id: string;
    at: Date;
    operator: string;
    action: ActionName;
    task: string;
    request: Record<string, unknown>;
    run_id: string | null;
    outcome: string;
  }>(
    `SELECT id, at, operator, action, task, request, run_id, outcome FROM scheduler.operator_actions
     WHERE task = $1 ORDER BY at DESC, id DESC LIMIT $2`,
    [task, limit],
  );
  return result.rows.map((row) => ({
    id: String(row.id),
    at: row.at.toISOString(),
    operator: row.operator,
    action: row.action,
    task: row.task,
    request: row.request,
    runId: row.run_id === null ? null : String(row.run_id),
    outcome: row.outcome,
  }));
}
