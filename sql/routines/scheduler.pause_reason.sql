-- The reason of the task's pause in force now (clock_timestamp: a long transaction still sees an
-- `until` pass), else NULL. The one rule of "paused now", for start_run and pg_cron's jobs alike.
-- In PL/pgSQL: its query is planned once per session, where a SQL function called from PL/pgSQL
-- (start_run calls this on every run) is planned on every call.
CREATE OR REPLACE FUNCTION scheduler.pause_reason(p_task text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT p.reason FROM scheduler.task_pauses p
    WHERE p.task = p_task AND p.resumed_at IS NULL AND (p.until IS NULL OR p.until > clock_timestamp())
  );
END
$$;
