-- Manual runs, and the tick as a task's input.
--
-- A console "Force run" (or `gcloud scheduler jobs run`) may send X-CloudScheduler-ScheduleTime
-- holding the NEXT scheduled run's time, or none
-- (https://cloud.google.com/scheduler/docs/configuring/deduplicate-job-requests). Such a run is
-- recorded with trigger 'manual': the header's time is kept for audit in requested_schedule_time,
-- and schedule_time (the dedup slot) stays NULL, so the real tick at that time still runs.
--
-- A task whose work depends on its tick ("yesterday" of generate-daily-stats and of the vendor
-- reports) reads it with scheduler.tick(): the schedule time of a tick (a retry or a backfill of a
-- past tick does that tick's work), the arrival of a manual run.

ALTER TABLE scheduler.job_runs DROP CONSTRAINT job_runs_trigger_check;
-- 'http' stays valid for the runs recorded before manual runs had a name of their own.
ALTER TABLE scheduler.job_runs
  ADD CONSTRAINT job_runs_trigger_check CHECK (trigger IN ('scheduler', 'manual', 'cli', 'http'));
ALTER TABLE scheduler.job_runs ADD COLUMN requested_schedule_time timestamptz;
-- A manual run never holds a slot: that is what keeps it from swallowing the real tick.
ALTER TABLE scheduler.job_runs
  ADD CONSTRAINT job_runs_manual_has_no_slot CHECK (trigger <> 'manual' OR schedule_time IS NULL);

-- The latest tick a task's successes stood for (a manual run stands for its own start): /health and
-- the overdue alert read it per task, so it must not sort a month of every-minute successes.
CREATE INDEX job_runs_success_tick_idx ON scheduler.job_runs (task, (coalesce(schedule_time, started_at)) DESC)
  WHERE status = 'succeeded' AND NOT dry_run;

-- The tick of the run this session is running (set by start_run, cleared by finish_run); the
-- statement's own clock when there is none (pg_cron, a hand-run statement).
CREATE FUNCTION scheduler.tick() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    to_timestamp(nullif(current_setting('scheduler.tick', true), '')::double precision),
    now())
$$;

DROP FUNCTION scheduler.start_run(text, text, text, timestamptz, integer, boolean, boolean, integer, text);

-- As in 000001, plus: p_requested_schedule_time is recorded as is (audit only), and p_tick becomes
-- the session's scheduler.tick() (the schedule time, else now).
CREATE FUNCTION scheduler.start_run(
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

-- As in 000001, and the session's tick is cleared with its other settings.
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
  PERFORM set_config('scheduler.tick', '', false);
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

-- As in 000001, plus last_success_tick: the latest tick a success stood for (its schedule time; a
-- manual run's start). A manual run after a missed tick repairs it; one before a tick does not
-- count as that tick.
CREATE OR REPLACE VIEW scheduler.job_health AS
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
  ) AS running,
  (
    SELECT max(coalesce(r.schedule_time, r.started_at)) FROM scheduler.job_runs r
    WHERE r.task = t.task AND r.status = 'succeeded' AND NOT r.dry_run
  ) AS last_success_tick
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
