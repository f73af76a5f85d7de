-- Ends the task's pause in force (`npm run cli -- resume <task>`); returns its row, or none when
-- the task was not paused.
CREATE OR REPLACE FUNCTION scheduler.resume_task(p_task text, p_resumed_by text)
RETURNS SETOF scheduler.task_pauses
LANGUAGE sql AS $$
  UPDATE scheduler.task_pauses p
  SET resumed_at = now(), resumed_by = p_resumed_by
  WHERE p.task = p_task AND p.resumed_at IS NULL AND (p.until IS NULL OR p.until > now())
  RETURNING p.*
$$;
