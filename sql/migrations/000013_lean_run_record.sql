-- Less work in the record every run writes (issue 18), and a duplicate check that stays an index
-- lookup whatever plan the server caches for it.
--
-- Measured on the function's warm request (the run's record beside the statement alone, each in a
-- hello-world's handler, interleaved): the record cost 0.56 ms over a query of the same shape that
-- records nothing, of which the bare writes (the 'running' row committed, then its update) are
-- 0.31 ms; the rest was statements of the routines, each a query of its own in PL/pgSQL. A run
-- that starts cost start_run six queries, eight on a tick (a setting cleared, the pause, the
-- duplicate check twice on a tick, the interrupted runs' update, the insert, the settings, its
-- answer); it now costs four, five on a tick (one read for the pause, a run still marked running
-- and the duplicate, each function's own query counted; the insert; the settings). finish_run
-- gives the lock back in its settings statement.
--
-- The duplicate check. A server caches a generic plan for a routine's query after five runs; made
-- while scheduler.job_runs was nearly empty (a new deployment, or before autovacuum first analyzes
-- it), it read the slot through job_runs_success_tick_idx on the task alone and filtered every
-- success of the task: 2.4 ms at 15,000 runs, on every tick of the task, until the next ANALYZE. The
-- check now also names the column that index orders by, coalesce(schedule_time, started_at), which
-- is the schedule time whenever there is one: each of the two indexes that can serve it finds the
-- slot by both its columns.

-- As in 000012 (the same outcomes, in the same order of precedence: paused, then duplicate, then
-- skipped), with the lock taken first. Holding it, one read answers the rest: the pause, whether a
-- run of the task is still marked running, and the slot's success. A run still marked running
-- while we hold the lock was cut off before it recorded its end, and is marked interrupted; that
-- UPDATE also waits for a run recording its end right now (finish_run gives the lock back before its
-- transaction commits, the row lock is held until then), so the slot is read again after it. Without
-- the lock the pause and the duplicate are read as before, and otherwise the run is skipped.
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

-- The run that already succeeded in the task's slot (its schedule time), if one did. The second
-- comparison is the first one again for a run that has a schedule time; it is there for the plan
-- (see the top of this file): whichever of job_runs_one_success_per_slot (task, schedule_time) and
-- job_runs_success_tick_idx (task, coalesce(schedule_time, started_at)) a cached plan picks, it
-- searches by the task and the time.
CREATE FUNCTION scheduler.slot_success(p_task text, p_schedule_time timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT r.id FROM scheduler.job_runs r
    WHERE r.task = p_task AND r.schedule_time = p_schedule_time
      AND coalesce(r.schedule_time, r.started_at) = p_schedule_time
      AND r.status = 'succeeded' AND NOT r.dry_run
  );
END
$$;

-- As in 000012, with the lock given back in the statement that clears the session's settings.
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
  -- by a start_run before 000012: pg_locks says whether this session holds the lock.
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

-- As in 000012, answering through its output columns (a RETURN QUERY is one more query run).
CREATE OR REPLACE FUNCTION scheduler.run_opened_statement(p_statement text, p_max_rows bigint)
RETURNS TABLE (run_id bigint, rows_affected bigint, duration_ms integer)
LANGUAGE plpgsql AS $$
BEGIN
  run_id := nullif(current_setting('scheduler.run_id', true), '')::bigint;
  IF run_id IS NULL THEN
    RETURN;
  END IF;
  EXECUTE p_statement;
  GET DIAGNOSTICS rows_affected = ROW_COUNT;
  IF p_max_rows IS NOT NULL AND rows_affected > p_max_rows THEN
    RAISE EXCEPTION 'the run would change % rows, more than its limit of %', rows_affected, p_max_rows
      USING ERRCODE = 'SJ001', DETAIL = rows_affected::text;
  END IF;
  -- Work that wrote nothing commits its record asynchronously (see 000012).
  IF pg_current_xact_id_if_assigned() IS NULL THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  duration_ms := scheduler.finish_run(run_id, 'succeeded', rows_affected, false, NULL, NULL);
  RETURN NEXT;
END
$$;
