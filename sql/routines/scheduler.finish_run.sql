-- Closes a run: records how it ended, gives back the session's settings (statement_timeout,
-- TimeZone, scheduler.tick, the open run) and the task's lock. Returns the run's duration.
-- Safe to call from another connection than the one that started the run (the first one may be
-- dead): the unlock is then a no-op, and the dead session's lock went with it. The session's open
-- run (scheduler.run_id, set by start_run) says whether the lock is this session's, which spares
-- asking pg_locks (a view that copies the whole lock table) on every run.
CREATE OR REPLACE FUNCTION scheduler.finish_run(
  p_run_id bigint,
  p_status text,
  p_rows_affected bigint,
  p_more boolean,
  p_error_code text,
  p_message text
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_task text;
  v_duration integer;
  v_open text := coalesce(current_setting('scheduler.run_id', true), '');
BEGIN
  UPDATE scheduler.job_runs r
  SET status = p_status,
      rows_affected = p_rows_affected,
      more = coalesce(p_more, false),
      error_code = p_error_code,
      message = p_message,
      finished_at = clock_timestamp(),
      duration_ms = round(extract(epoch FROM clock_timestamp() - r.started_at) * 1000)
  WHERE r.id = p_run_id
  RETURNING r.task, r.duration_ms INTO v_task, v_duration;

  RESET statement_timeout;
  RESET TimeZone;
  -- The lock is this session's when the session opened this run.
  PERFORM set_config('scheduler.tick', '', false),
          set_config('scheduler.run_id', CASE WHEN v_open = p_run_id::text THEN '' ELSE v_open END, false),
          CASE WHEN v_task IS NOT NULL AND v_open = p_run_id::text
               THEN pg_advisory_unlock(7262005, hashtext(v_task)) END;
  -- A run recorded from another connection (its own is gone, and its lock with it), or one opened
  -- by a start_run older than the session's open run: pg_locks says whether this session holds the lock.
  IF v_task IS NOT NULL AND v_open = '' THEN
    PERFORM pg_advisory_unlock(7262005, hashtext(v_task))
    WHERE EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid()
        AND l.classid = 7262005 AND l.objid = hashtext(v_task)::oid AND l.objsubid = 2
    );
  END IF;
  RETURN v_duration;
END
$$;
