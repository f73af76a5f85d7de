-- The scheduler's own schema: the run history, the functions that open and close a run, and the
-- health view behind GET /health. Applied by `npm run migrate`, never by the function at cold start.

CREATE TABLE scheduler.job_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task text NOT NULL,
  trigger text NOT NULL CHECK (trigger IN ('scheduler', 'http', 'cli')),
  -- Cloud Scheduler's X-CloudScheduler-JobName and X-CloudScheduler-ScheduleTime, when it sent them.
  job_name text,
  schedule_time timestamptz,
  attempt integer,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  dry_run boolean NOT NULL DEFAULT false,
  forced boolean NOT NULL DEFAULT false,
  rows_affected bigint,
  more boolean NOT NULL DEFAULT false,
  error_code text,
  message text,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  duration_ms integer
);

CREATE INDEX job_runs_task_started_idx ON scheduler.job_runs (task, started_at DESC);
CREATE INDEX job_runs_started_idx ON scheduler.job_runs (started_at);
-- At most one success per task and schedule time: the database's own guard against a duplicate
-- delivery that slipped past the lock.
CREATE UNIQUE INDEX job_runs_one_success_per_slot ON scheduler.job_runs (task, schedule_time)
  WHERE status = 'succeeded' AND NOT dry_run AND schedule_time IS NOT NULL;

-- Opens a run in one round trip. Outcomes:
--   'duplicate': this task's schedule time already succeeded; run_id is that run.
--   'skipped':   another run of the task holds its lock; run_id is the recorded skip.
--   'started':   this session now holds the task's advisory lock (session level, so it spans the
--                task's own transactions), its statement_timeout and TimeZone are the task's, and
--                run_id is the new run, committed before the task starts so that it survives a
--                failure of the task.
CREATE FUNCTION scheduler.start_run(
  p_task text,
  p_trigger text,
  p_job_name text,
  p_schedule_time timestamptz,
  p_attempt integer,
  p_dry_run boolean,
  p_forced boolean,
  p_timeout_ms integer,
  p_time_zone text
) RETURNS TABLE (outcome text, run_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
BEGIN
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
      (task, trigger, job_name, schedule_time, attempt, status, dry_run, forced, rows_affected,
       message, finished_at, duration_ms)
    VALUES
      (p_task, p_trigger, p_job_name, p_schedule_time, p_attempt, 'skipped', p_dry_run, p_forced, 0,
       'another run of this task holds its lock', clock_timestamp(), 0)
    RETURNING id INTO v_id;
    RETURN QUERY SELECT 'skipped'::text, v_id;
    RETURN;
  END IF;

  -- We hold the lock, so no run of this task is really running: one still marked so was cut off
  -- (instance stopped, connection lost) before it could record its end. This UPDATE also waits
  -- for a run that is recording its end right now: finish_run gives the lock back before its
  -- transaction commits, and the row lock is held until then.
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

  INSERT INTO scheduler.job_runs (task, trigger, job_name, schedule_time, attempt, status, dry_run, forced)
  VALUES (p_task, p_trigger, p_job_name, p_schedule_time, p_attempt, 'running', p_dry_run, p_forced)
  RETURNING id INTO v_id;

  PERFORM set_config('statement_timeout', p_timeout_ms::text || 'ms', false);
  PERFORM set_config('TimeZone', p_time_zone, false);
  RETURN QUERY SELECT 'started'::text, v_id;
END
$$;

-- Closes a run: records how it ended, gives back the session's settings and the task's lock.
-- Safe to call from another connection than the one that started the run (the first one may be
-- dead): the unlock is then a no-op, and the dead session's lock went with it.
CREATE FUNCTION scheduler.finish_run(
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
  IF v_task IS NOT NULL THEN
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

-- Per task, over its run history (dry runs excluded): the seed's cron_job_health, for GET /health.
-- The catalog adds schedule, time zone, next run and overdue; they are not the database's to know.
CREATE VIEW scheduler.job_health AS
SELECT
  t.task,
  s.runs_24h,
  s.succeeded_24h,
  s.failures_24h,
  s.skipped_24h,
  s.p50_ms,
  s.p95_ms,
  last_run.started_at AS last_run_at,
  last_run.status AS last_status,
  last_success.started_at AS last_success_at,
  last_success.schedule_time AS last_success_schedule_time,
  last_failure.started_at AS last_failure_at,
  last_failure.message AS last_error,
  EXISTS (
    SELECT 1 FROM scheduler.job_runs x WHERE x.task = t.task AND x.status = 'running'
  ) AS running
FROM (SELECT DISTINCT task FROM scheduler.job_runs) t
CROSS JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE r.status IN ('succeeded', 'failed'))::integer AS runs_24h,
    count(*) FILTER (WHERE r.status = 'succeeded')::integer AS succeeded_24h,
    count(*) FILTER (WHERE r.status = 'failed')::integer AS failures_24h,
    count(*) FILTER (WHERE r.status = 'skipped')::integer AS skipped_24h,
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms) FILTER (WHERE r.status = 'succeeded'))::integer AS p50_ms,
    round(percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) FILTER (WHERE r.status = 'succeeded'))::integer AS p95_ms
  FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.started_at > now() - interval '24 hours'
) s
LEFT JOIN LATERAL (
  SELECT r.started_at, r.status FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.status <> 'skipped'
  ORDER BY r.started_at DESC LIMIT 1
) last_run ON true
LEFT JOIN LATERAL (
  SELECT r.started_at, r.schedule_time FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.status = 'succeeded'
  ORDER BY r.started_at DESC LIMIT 1
) last_success ON true
LEFT JOIN LATERAL (
  SELECT r.started_at, r.message FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.status = 'failed'
  ORDER BY r.started_at DESC LIMIT 1
) last_failure ON true;
