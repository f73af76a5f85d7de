-- The runner's opening of a run: start_run, and when the task is paused, the pause that stopped it
-- (who, when, until), in one call, so the server plans no join to task_pauses on every run.
--
-- The opening's transaction commits asynchronously (synchronous_commit off for it alone): the
-- server answers before its WAL reaches the disk, which saves a disk flush on every run (on Cloud
-- SQL a flush to a persistent disk, and with high availability to the standby's too). Nothing is
-- lost for it: the row is visible to every session at once, and the run's own end commits
-- synchronously, which flushes the WAL up to its commit and so the opening's as well. Only a crash
-- of the database server within a fraction of a second of the opening can lose it, and then the
-- run's work, not yet committed, is lost with it; the caller sees the connection fail (503) and the
-- scheduler retries the tick. See https://www.postgresql.org/docs/current/wal-async-commit.html.
CREATE OR REPLACE FUNCTION scheduler.open_run(
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
