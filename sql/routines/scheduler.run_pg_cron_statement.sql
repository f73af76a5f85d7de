-- A single-statement task, as a pg_cron job runs it:
--   SET statement_timeout = '<task timeout>'; SELECT scheduler.run_pg_cron_statement(...)
-- (PostgreSQL arms statement_timeout when each top-level statement starts, so the SET before the
-- SELECT bounds it; start_run's own setting comes too late for the running statement.) The run, its
-- work and its record are one transaction: the statement runs in a sub-block, so a failure, a
-- tripped guard or the timeout rolls back the work and the failure is still recorded. pg_cron sees
-- the SELECT succeed whatever the run's outcome (its transaction must commit for the record to
-- stay): the outcome is in scheduler.job_runs, and is the value returned.
-- p_minutes..p_days_of_week: the task's schedule in p_time_zone when pg_cron's entry is wider
-- (see cron_matches); a tick that is not one of them records nothing and returns 'not_due'.
-- p_at: the tick's source, pg_cron's start (tests pass chosen times); the tick is its minute.
-- docs/pg-cron.md tells what a pg_cron run records and why it is built this way.
CREATE OR REPLACE FUNCTION scheduler.run_pg_cron_statement(
  p_task text,
  p_statement text,
  p_max_rows bigint,
  p_timeout_ms integer,
  p_time_zone text,
  p_minutes integer[] DEFAULT NULL,
  p_hours integer[] DEFAULT NULL,
  p_days_of_month integer[] DEFAULT NULL,
  p_months integer[] DEFAULT NULL,
  p_days_of_week integer[] DEFAULT NULL,
  p_at timestamptz DEFAULT now()
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_tick timestamptz := date_trunc('minute', p_at);
  v_outcome text;
  v_run bigint;
  v_rows bigint := 0;
  v_code text;
  v_message text;
BEGIN
  IF (p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week) IS DISTINCT FROM
       (NULL::integer[], NULL::integer[], NULL::integer[], NULL::integer[], NULL::integer[])
     AND NOT scheduler.cron_matches(v_tick, p_time_zone, p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week) THEN
    RETURN 'not_due';
  END IF;

  SELECT s.outcome, s.run_id INTO v_outcome, v_run
  FROM scheduler.start_run(p_task, 'pg_cron', NULL, v_tick, NULL, false, false, p_timeout_ms, p_time_zone,
                           NULL, v_tick) s;
  IF v_outcome <> 'started' THEN
    RETURN v_outcome;
  END IF;

  BEGIN
    EXECUTE p_statement;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF p_max_rows IS NOT NULL AND v_rows > p_max_rows THEN
      -- The runner's guardTripped message (functions/core/run/).
      v_code := 'guard_tripped';
      v_message := format('%s would change %s rows, more than its limit of %s; nothing was changed (force the run to override)',
                          p_task, v_rows, p_max_rows);
      RAISE EXCEPTION USING MESSAGE = v_message;
    END IF;
  EXCEPTION
    -- Named apart: WHEN OTHERS does not catch a cancel. classifyDatabaseError's rule: a statement
    -- timeout is 'timeout', another cancel is the task failing.
    WHEN query_canceled THEN
      v_code := CASE WHEN SQLERRM ~* 'statement timeout' THEN 'timeout' ELSE 'task_failed' END;
      v_message := scheduler.public_message(SQLERRM);
    WHEN OTHERS THEN
      IF v_code IS NULL THEN
        v_code := 'task_failed';
        v_message := scheduler.public_message(SQLERRM);
      END IF;
  END;

  IF v_code IS NULL THEN
    PERFORM scheduler.finish_run(v_run, 'succeeded', v_rows, false, NULL, NULL);
    RETURN 'succeeded';
  END IF;
  -- A tripped guard changed nothing; a failed statement's rows were rolled back.
  PERFORM scheduler.finish_run(v_run, 'failed', 0, false, v_code, v_message);
  RETURN 'failed';
END
$$;
