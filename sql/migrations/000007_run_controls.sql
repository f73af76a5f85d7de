-- Run-time pause: the emergency stop that needs no deploy rights (`npm run cli -- pause <task>
-- --reason ... [--until <time>]`, `resume <task>`). Pausing in the stack's config (Pulumi) stays the
-- declarative pause; this one lives in the database, so the function, the CLI and pg_cron all see it
-- on their next run. Who paused, when, and who resumed stay in the row (the audit), until the next pause.

CREATE TABLE scheduler.task_pauses (
  task text PRIMARY KEY,
  reason text NOT NULL CHECK (btrim(reason) <> ''),
  paused_by text NOT NULL,
  paused_at timestamptz NOT NULL DEFAULT now(),
  -- The pause ends by itself at this time; NULL: until resumed.
  until timestamptz,
  resumed_at timestamptz,
  resumed_by text,
  CHECK (until IS NULL OR until > paused_at)
);

-- A tick of a paused task is recorded, with the pause's reason as its message.
ALTER TABLE scheduler.job_runs DROP CONSTRAINT job_runs_status_check;
ALTER TABLE scheduler.job_runs
  ADD CONSTRAINT job_runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'paused'));

-- The reason of the task's pause in force now (clock_timestamp: a long transaction still sees an
-- `until` pass), else NULL. The one rule of "paused now", for start_run and pg_cron's jobs alike.
CREATE FUNCTION scheduler.pause_reason(p_task text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT p.reason FROM scheduler.task_pauses p
  WHERE p.task = p_task AND p.resumed_at IS NULL AND (p.until IS NULL OR p.until > clock_timestamp())
$$;

-- Pauses the task (a new pause replaces the last one, in force or not); returns its row.
CREATE FUNCTION scheduler.pause_task(p_task text, p_reason text, p_paused_by text, p_until timestamptz)
RETURNS scheduler.task_pauses
LANGUAGE sql AS $$
  INSERT INTO scheduler.task_pauses AS p (task, reason, paused_by, paused_at, until)
  VALUES (p_task, p_reason, p_paused_by, now(), p_until)
  ON CONFLICT (task) DO UPDATE
    SET reason = excluded.reason, paused_by = excluded.paused_by, paused_at = excluded.paused_at,
        until = excluded.until, resumed_at = NULL, resumed_by = NULL
  RETURNING p.*
$$;

-- Ends the task's pause in force; returns its row, or none when the task was not paused.
CREATE FUNCTION scheduler.resume_task(p_task text, p_resumed_by text)
RETURNS SETOF scheduler.task_pauses
LANGUAGE sql AS $$
  UPDATE scheduler.task_pauses p
  SET resumed_at = now(), resumed_by = p_resumed_by
  WHERE p.task = p_task AND p.resumed_at IS NULL AND (p.until IS NULL OR p.until > now())
  RETURNING p.*
$$;

-- As in 000004, plus: a task paused at run time starts no run; the run is recorded 'paused', with
-- the reason as its message, and the outcome is 'paused' (the caller reads the pause's row in the
-- same statement: no extra round trip).
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

  PERFORM set_config('statement_timeout', p_timeout_ms::text || 'ms', false);
  PERFORM set_config('TimeZone', p_time_zone, false);
  PERFORM set_config('scheduler.tick',
    extract(epoch FROM coalesce(p_tick, p_schedule_time, clock_timestamp()))::text, false);
  RETURN QUERY SELECT 'started'::text, v_id;
END
$$;
