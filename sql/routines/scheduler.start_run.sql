-- Opens a run in one call. Outcomes, in this order of precedence:
--   'paused':    the task is paused at run time (scheduler.pause_reason); the run is recorded
--                'paused' with the pause's reason as its message.
--   'duplicate': this tick (schedule time) of the task already succeeded; run_id is that run.
--   'skipped':   another run of the task holds its lock; run_id is the recorded skip.
--   'started':   this session now holds the task's advisory lock (session level, so it spans the
--                task's own transactions), its statement_timeout, TimeZone and scheduler.tick()
--                are the task's, the session's open run (the setting scheduler.run_id, read by
--                run_opened_statement and finish_run) is run_id, and run_id is the new 'running'
--                row, committed by the caller before the task starts so that it survives a
--                failure of the task.
-- A manual run records p_requested_schedule_time (a console "Force run" may send the next tick's
-- time) for audit only and holds no slot, so the real tick at that time still runs.
--
-- The lock is taken first. Holding it, one read answers the rest: the pause, whether a run of the
-- task is still marked running, and the slot's success. A run still marked running while we hold
-- the lock was cut off before it recorded its end, and is marked interrupted; that UPDATE also
-- waits for a run recording its end right now (finish_run gives the lock back before its
-- transaction commits, and the row lock is held until then), so the slot is read again after it.
-- Without the lock the pause and the duplicate are read, and otherwise the run is skipped. Each
-- statement of a PL/pgSQL body is a query of its own, so the settings are set in one.
CREATE OR REPLACE FUNCTION scheduler.start_run(
  p_task text,
  p_trigger text,
  p_job_name text,
  p_schedule_time timestamptz,
  p_attempt integer,
  p_dry_run boolean,
  p_forced boolean,
  p_timeout_ms integer,
  p_time_zone text,
  p_requested_schedule_time timestamptz,
  p_tick timestamptz
) RETURNS TABLE (outcome text, run_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_reason text;
  v_running boolean := false;
  v_done bigint;
  -- Only a tick that is not a dry run holds a slot (job_runs_one_success_per_slot).
  v_slot boolean := p_schedule_time IS NOT NULL AND NOT p_dry_run;
BEGIN
  IF pg_try_advisory_lock(7262005, hashtext(p_task)) THEN
    SELECT scheduler.pause_reason(p_task),
           EXISTS (SELECT 1 FROM scheduler.job_runs r WHERE r.task = p_task AND r.status = 'running'),
           CASE WHEN v_slot THEN scheduler.slot_success(p_task, p_schedule_time) END
      INTO v_reason, v_running, v_done;
    IF v_reason IS NULL AND v_running THEN
      UPDATE scheduler.job_runs r
      SET status = 'failed',
          error_code = 'interrupted',
          message = 'the run was interrupted before it recorded its end (instance stopped or connection lost)',
          finished_at = clock_timestamp(),
          duration_ms = round(extract(epoch FROM clock_timestamp() - r.started_at) * 1000)
      WHERE r.task = p_task AND r.status = 'running';
      -- This statement's snapshot is taken after the wait above: it sees that run's commit.
      IF v_slot THEN
        v_done := scheduler.slot_success(p_task, p_schedule_time);
      END IF;
    END IF;
    IF v_reason IS NULL AND v_done IS NULL THEN
      INSERT INTO scheduler.job_runs
        (task, trigger, job_name, schedule_time, requested_schedule_time, attempt, status, dry_run, forced)
      VALUES
        (p_task, p_trigger, p_job_name, p_schedule_time, p_requested_schedule_time, p_attempt, 'running',
         p_dry_run, p_forced)
      RETURNING id INTO run_id;
      -- The session's open run (read by run_opened_statement and finish_run) and the run's settings,
      -- in one statement.
      PERFORM set_config('scheduler.run_id', run_id::text, false),
              set_config('statement_timeout', p_timeout_ms::text || 'ms', false),
              set_config('TimeZone', p_time_zone, false),
              set_config('scheduler.tick',
                         extract(epoch FROM coalesce(p_tick, p_schedule_time, clock_timestamp()))::text, false);
      outcome := 'started';
      RETURN NEXT;
      RETURN;
    END IF;
    PERFORM pg_advisory_unlock(7262005, hashtext(p_task));
  ELSE
    v_reason := scheduler.pause_reason(p_task);
    IF v_reason IS NULL AND v_slot THEN
      v_done := scheduler.slot_success(p_task, p_schedule_time);
    END IF;
  END IF;

  -- Not started: no run is open on this session.
  PERFORM set_config('scheduler.run_id', '', false);
  IF v_reason IS NULL AND v_done IS NOT NULL THEN
    outcome := 'duplicate';
    run_id := v_done;
    RETURN NEXT;
    RETURN;
  END IF;
  -- A pause is recorded with its reason; a run that found the lock held, as skipped. Neither did
  -- any work or holds anything.
  outcome := CASE WHEN v_reason IS NOT NULL THEN 'paused' ELSE 'skipped' END;
  INSERT INTO scheduler.job_runs
    (task, trigger, job_name, schedule_time, requested_schedule_time, attempt, status, dry_run, forced,
     rows_affected, message, finished_at, duration_ms)
  VALUES
    (p_task, p_trigger, p_job_name, p_schedule_time, p_requested_schedule_time, p_attempt, outcome,
     p_dry_run, p_forced, 0, coalesce(v_reason, 'another run of this task holds its lock'), clock_timestamp(), 0)
  RETURNING id INTO run_id;
  RETURN NEXT;
END
$$;
