-- Run-time pause, the emergency stop that needs no deploy rights (`npm run cli -- pause <task>
-- --reason ... [--until <time>]`): pauses the task (a new pause replaces the last one, in force or
-- not) and returns its row. Who paused, when, and who resumed stay in the row until the next pause.
CREATE OR REPLACE FUNCTION scheduler.pause_task(p_task text, p_reason text, p_paused_by text, p_until timestamptz)
RETURNS scheduler.task_pauses
LANGUAGE sql AS $$
  INSERT INTO scheduler.task_pauses AS p (task, reason, paused_by, paused_at, until)
  VALUES (p_task, p_reason, p_paused_by, now(), p_until)
  ON CONFLICT (task) DO UPDATE
    SET reason = excluded.reason, paused_by = excluded.paused_by, paused_at = excluded.paused_at,
        until = excluded.until, resumed_at = NULL, resumed_by = NULL
  RETURNING p.*
$$;
