-- One round trip for a single-statement run (issue 18), and less work in the two routines every run
-- calls.
--
-- The session's open run. start_run records the run it opened in the session setting
-- scheduler.run_id (empty when it opened none: paused, skipped, duplicate), and finish_run clears
-- it. The runner sends start_run and scheduler.run_opened_statement in one simple query
-- (`BEGIN; SELECT ... start_run(...); COMMIT; SELECT ... run_opened_statement(...)`): the 'running'
-- row commits before the work as before, and the work finds its run here without a round trip back
-- to the client. A setting changed in a transaction that rolls back reverts with it, so a failed
-- start_run leaves no open run behind.

-- As in 000007, and the session's open run is set (see above).
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
  v_id bigint;
  v_reason text;
BEGIN
  -- No run is open on this session until this one starts (a session's open run is read by
  -- run_opened_statement and finish_run).
  PERFORM set_config('scheduler.run_id', '', false);

  -- A run-time pause stops every run of the task, and is recorded with its reason: no task work,
  -- no lock taken, nothing held.
  v_reason := scheduler.pause_reason(p_task);
  IF v_reason IS NOT NULL THEN
    INSERT INTO scheduler.job_runs
      (task, trigger, job_name, schedule_time, requested_schedule_time, attempt, status, dry_run, forced,
       rows_affected, message, finished_at, duration_ms)
    VALUES
      (p_task, p_trigger, p_job_name, p_schedule_time, p_requested_schedule_time, p_attempt, 'paused',
       p_dry_run, p_forced, 0, v_reason, clock_timestamp(), 0)
    RETURNING id INTO v_id;
    RETURN QUERY SELECT 'paused'::text, v_id;
    RETURN;
  END IF;

  IF p_schedule_time IS NOT NULL AND NOT p_dry_run THEN
    SELECT r.id INTO v_id FROM scheduler.job_runs r
    WHERE r.task = p_task AND r.schedule_time = p_schedule_time AND r.status = 'succeeded' AND NOT r.dry_run;
    IF FOUND THEN
      RETURN QUERY SELECT 'duplicate'::text, v_id;
      RETURN;
    END IF;
  END IF;

  IF NOT pg_try_advisory_lock(7262005, hashtext(p_task)) THEN
    INSERT INTO scheduler.job_runs
      (task, trigger, job_name, schedule_time, requested_schedule_time, attempt, status, dry_run, forced,
       rows_affected, message, finished_at, duration_ms)
    VALUES
      (p_task, p_trigger, p_job_name, p_schedule_time, p_requested_schedule_time, p_attempt, 'skipped',
       p_dry_run, p_forced, 0, 'another run of this task holds its lock', clock_timestamp(), 0)
    RETURNING id INTO v_id;
    RETURN QUERY SELECT 'skipped'::text, v_id;
    RETURN;
  END IF;

  -- We hold the lock, so no run of this task is really running: one still marked so was cut off
  -- before it could record its end. This UPDATE also waits for a run recording its end right now
  -- (finish_run gives the lock back before its transaction commits; the row lock is held until then).
  UPDATE scheduler.job_runs r
  SET status = 'failed',
      error_code = 'interrupted',
      message = 'the run was interrupted before it recorded its end (instance stopped or connection lost)',
      finished_at = clock_timestamp(),
      duration_ms = round(extract(epoch FROM clock_timestamp() - r.started_at) * 1000)
  WHERE r.task = p_task AND r.status = 'running';

  -- The run that held the lock may have succeeded between the first check and the lock; this
  -- statement's snapshot is taken after the wait above, so it sees that run's commit.
  IF p_schedule_time IS NOT NULL AND NOT p_dry_run THEN
    SELECT r.id INTO v_id FROM scheduler.job_runs r
    WHERE r.task = p_task AND r.schedule_time = p_schedule_time AND r.status = 'succeeded' AND NOT r.dry_run;
    IF FOUND THEN
      PERFORM pg_advisory_unlock(7262005, hashtext(p_task));
      RETURN QUERY SELECT 'duplicate'::text, v_id;
      RETURN;
    END IF;
  END IF;

  INSERT INTO scheduler.job_runs
    (task, trigger, job_name, schedule_time, requested_schedule_time, attempt, status, dry_run, forced)
  VALUES
    (p_task, p_trigger, p_job_name, p_schedule_time, p_requested_schedule_time, p_attempt, 'running',
     p_dry_run, p_forced)
  RETURNING id INTO v_id;

  -- One statement for the session's settings (each statement of a PL/pgSQL body is a query run).
  PERFORM set_config('scheduler.run_id', v_id::text, false),
          set_config('statement_timeout', p_timeout_ms::text || 'ms', false),
          set_config('TimeZone', p_time_zone, false),
          set_config('scheduler.tick',
                     extract(epoch FROM coalesce(p_tick, p_schedule_time, clock_timestamp()))::text, false);
  RETURN QUERY SELECT 'started'::text, v_id;
END
$$;

-- As in 000004, and the task's lock is given back when this session opened the run, which the
-- session's open run says. It was asked of pg_locks before: a view that copies the whole lock
-- table, 66 µs of a run's 330 µs of database time. pg_locks is still asked when the session has no
-- open run: a run recorded from another connection (its own is gone, and its lock with it), or one
-- opened before this migration by the previous start_run.
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
  PERFORM set_config('scheduler.tick', '', false),
          set_config('scheduler.run_id', CASE WHEN v_open = p_run_id::text THEN '' ELSE v_open END, false);
  IF v_task IS NOT NULL THEN
    IF v_open = p_run_id::text THEN
      PERFORM pg_advisory_unlock(7262005, hashtext(v_task));
    ELSIF v_open = '' THEN
      PERFORM pg_advisory_unlock(7262005, hashtext(v_task))
      WHERE EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid()
          AND l.classid = 7262005 AND l.objid = hashtext(v_task)::oid AND l.objsubid = 2
      );
    END IF;
  END IF;
  RETURN v_duration;
END
$$;

-- The work of the run this session opened (start_run, in the same simple query) and the record of
-- its success, in one statement and one transaction: run_statement (000011) without the run id,
-- which the client does not have yet when it sends this. With no open run (start_run opened none,
-- or failed) it does nothing and returns no row. As in run_statement, a run that would change more
-- than p_max_rows rows raises SQLSTATE SJ001 with the count as its detail, and any error rolls the
-- work and its record back for the caller to record the failure.
-- scheduler.run_statement stays for instances of the previous release during a deploy.
CREATE FUNCTION scheduler.run_opened_statement(p_statement text, p_max_rows bigint)
RETURNS TABLE (run_id bigint, rows_affected bigint, duration_ms integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_run bigint := nullif(current_setting('scheduler.run_id', true), '')::bigint;
  v_rows bigint;
BEGIN
  IF v_run IS NULL THEN
    RETURN;
  END IF;
  EXECUTE p_statement;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF p_max_rows IS NOT NULL AND v_rows > p_max_rows THEN
    RAISE EXCEPTION 'the run would change % rows, more than its limit of %', v_rows, p_max_rows
      USING ERRCODE = 'SJ001', DETAIL = v_rows::text;
  END IF;
  -- Work that wrote nothing (it needed no transaction id: most every-minute runs) leaves its record
  -- as the transaction's only change, and that commits asynchronously, as the opening did: a
  -- database crash within a fraction of a second can lose the record of a run that changed nothing,
  -- and running it again changes nothing either. Work that wrote commits synchronously, as always.
  IF pg_current_xact_id_if_assigned() IS NULL THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  RETURN QUERY SELECT v_run, v_rows, scheduler.finish_run(v_run, 'succeeded', v_rows, false, NULL, NULL);
END
$$;

-- As in 000007, in PL/pgSQL: its query is planned once per session. A SQL function called from
-- PL/pgSQL (start_run calls this on every run) is planned on every call: 30 µs a run.
CREATE OR REPLACE FUNCTION scheduler.pause_reason(p_task text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT p.reason FROM scheduler.task_pauses p
    WHERE p.task = p_task AND p.resumed_at IS NULL AND (p.until IS NULL OR p.until > clock_timestamp())
  );
END
$$;

-- The runner's opening of a run: start_run, and when the task is paused, the pause that stopped it
-- (who, when, until), in one call. The runner joined task_pauses to start_run instead: a join the
-- server planned again on every run once the opening went out as a simple query (0.09 ms a run).
--
-- The opening's transaction commits asynchronously (synchronous_commit off for it alone): the
-- server answers before its WAL reaches the disk, which saves a disk flush on every run (on Cloud
-- SQL a flush to a persistent disk, and with high availability to the standby's too). Nothing is
-- lost for it: the row is visible to every session at once, and the run's own end commits
-- synchronously, which flushes the WAL up to its commit and so the opening's as well. Only a crash
-- of the database server within a fraction of a second of the opening can lose it, and then the
-- run's work, not yet committed, is lost with it; the caller sees the connection fail (503) and the
-- scheduler retries the tick. See https://www.postgresql.org/docs/current/wal-async-commit.html.
CREATE FUNCTION scheduler.open_run(
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
) RETURNS TABLE (outcome text, run_id bigint, reason text, paused_by text, paused_at timestamptz, until timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT s.outcome, s.run_id INTO outcome, run_id
  FROM scheduler.start_run(p_task, p_trigger, p_job_name, p_schedule_time, p_attempt, p_dry_run, p_forced,
                           p_timeout_ms, p_time_zone, p_requested_schedule_time, p_tick) s;
  IF outcome = 'paused' THEN
    SELECT p.reason, p.paused_by, p.paused_at, p.until INTO reason, paused_by, paused_at, until
    FROM scheduler.task_pauses p WHERE p.task = p_task;
  END IF;
  RETURN NEXT;
END
$$;
