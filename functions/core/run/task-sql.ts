import type { TaskDefinition } from "../catalog.js";
import { taskSql } from "./sql.generated.js";

/** A task's SQL, from sql/tasks/<name>.sql (compiled into sql.generated.ts). */
export interface TaskSqlFile {
  /** The single statement of a task that is not batched. */
  readonly statement?: string;
  /** One batch of a batched task: changes at most $1 rows. */
  readonly batch?: string;
  /** Counts the rows a batched task would change, at most $1 (all when NULL). */
  readonly count?: string;
}

export function sqlOf(task: TaskDefinition): TaskSqlFile {
  const sql = taskSql[task.name];
  if (!sql) throw new Error(`no SQL for task "${task.name}" (sql/tasks/${task.name}.sql)`);
  return sql;
}
