-- pg_cron runs its jobs through the same contract as the function: scheduler.start_run (the run-time
-- pause, one run per tick, the task's advisory lock -> 'skipped', a cut-off run marked interrupted,
-- the 'running' row, the session's tick and TimeZone) and scheduler.finish_run. The generated
-- pg_cron commands (scripts/lib/pg-cron.ts) are one call each to the routines below, with the task's
-- SQL passed as text and EXECUTEd, so the logic of a run lives here once and is tested once.
-- docs/pg-cron.md tells what a pg_cron run records and why it is built this way.

ALTER TABLE scheduler.job_runs DROP CONSTRAINT job_runs_trigger_check;
ALTER TABLE scheduler.job_runs
  ADD CONSTRAINT job_runs_trigger_check CHECK (trigger IN ('scheduler', 'manual', 'cli', 'http', 'pg_cron'));

-- How long run history is kept: the setting scheduler.run_retention_days (ALTER DATABASE ... SET
-- scheduler.run_retention_days = 90), 30 days by default. One rule for scheduler.job_runs
-- (sql/tasks/purge-run-history.sql) and pg_cron's cron.job_run_details (the setup's purge job).
CREATE FUNCTION scheduler.run_retention() RETURNS interval
LANGUAGE sql STABLE AS $$
  SELECT make_interval(days => coalesce(
    nullif(current_setting('scheduler.run_retention_days', true), '')::integer, 30))
$$;

-- Whether a local wall-clock time matches a schedule's fields, expanded by the generator with
-- functions/cron.ts (the one grammar) into sets; NULL: any value. When both day fields are
-- restricted, a day matching either fires (cron's rule); otherwise both must match. Days of the week
-- 0-6, Sunday 0.
CREATE FUNCTION scheduler.cron_fields_match(
  p_local timestamp,
  p_minutes integer[],
  p_hours integer[],
  p_days_of_month integer[],
  p_months integer[],
  p_days_of_week integer[]
) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (p_minutes IS NULL OR extract(minute FROM p_local)::integer = ANY (p_minutes))
    AND (p_hours IS NULL OR extract(hour FROM p_local)::integer = ANY (p_hours))
    AND (p_months IS NULL OR extract(month FROM p_local)::integer = ANY (p_months))
    AND CASE
      WHEN p_days_of_month IS NOT NULL AND p_days_of_week IS NOT NULL
        THEN extract(day FROM p_local)::integer = ANY (p_days_of_month)
          OR extract(dow FROM p_local)::integer = ANY (p_days_of_week)
      ELSE (p_days_of_month IS NULL OR extract(day FROM p_local)::integer = ANY (p_days_of_month))
        AND (p_days_of_week IS NULL OR extract(dow FROM p_local)::integer = ANY (p_days_of_week))
    END
$$;

-- Whether a tick (an instant) is a fire time of the schedule read in p_time_zone. Around DST
-- changes it follows croner, whose fire times /health's overdue rule reads (functions/schedule.ts),
-- so that a pg_cron task is neither run nor expected differently:
-- - a schedule with one hour (`30 2 * * *`) fires once a day: a time the spring change skips fires
--   at the first instant after the gap (03:00 for 02:30 in Europe/Berlin), and a time the autumn
--   change repeats fires at its first occurrence only;
-- - a schedule with several hours (`*/30 * * * *`, `30 1-3 * * *`) fires at every instant whose
--   wall-clock time matches: a skipped time does not fire, a repeated one fires at each occurrence.
-- Offset changes are looked for within the last day (every zone changes at most twice a year).
CREATE FUNCTION scheduler.cron_matches(
  p_at timestamptz,
  p_time_zone text,
  p_minutes integer[],
  p_hours integer[],
  p_days_of_month integer[],
  p_months integer[],
  p_days_of_week integer[]
) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_local timestamp := p_at AT TIME ZONE p_time_zone;
  v_one_hour boolean := coalesce(cardinality(p_hours) = 1, false);
  v_before timestamp;
  -- How much further ahead of UTC the zone was a day ago: > 0 after a fall-back.
  v_back interval;
BEGIN
  IF scheduler.cron_fields_match(v_local, p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week) THEN
    IF NOT v_one_hour THEN
      RETURN true;
    END IF;
    v_back := ((p_at - interval '1 day') AT TIME ZONE p_time_zone - (p_at - interval '1 day') AT TIME ZONE 'UTC')
      - (v_local - p_at AT TIME ZONE 'UTC');
    -- Not the second occurrence of a repeated wall-clock time (the same time v_back earlier).
    RETURN NOT (v_back > interval '0' AND (p_at - v_back) AT TIME ZONE p_time_zone = v_local);
  END IF;
  IF NOT v_one_hour THEN
    RETURN false;
  END IF;
  -- The first instant after a gap fires the times the gap skipped.
  v_before := (p_at - interval '1 minute') AT TIME ZONE p_time_zone;
  RETURN v_local - v_before > interval '1 minute' AND EXISTS (
    SELECT 1 FROM generate_series(v_before + interval '1 minute', v_local - interval '1 minute', interval '1 minute') AS g (t)
    WHERE scheduler.cron_fields_match(g.t, p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week)
  );
END
$$;

-- The batch sizing of functions/batch-sizing.ts (firstBatchSize, nextBatchSize), mirrored for the
-- batch procedure; test/batch-sizing.test.ts checks both on the same table of cases. NULL sizing
-- (p_target_ms NULL): a fixed size.
CREATE FUNCTION scheduler.first_batch_size(p_size integer, p_min_size integer, p_max_size integer)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_min_size IS NULL THEN p_size ELSE least(p_max_size, greatest(p_min_size, p_size)) END
$$;

CREATE FUNCTION scheduler.next_batch_size(
  p_size integer,
  p_rows bigint,
  p_ms double precision,
  p_target_ms integer,
  p_min_size integer,
  p_max_size integer
) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_target_ms IS NULL THEN p_size
    ELSE least(p_max_size, greatest(p_min_size,
      least(floor(p_rows * p_target_ms / greatest(p_ms, 1))::bigint, 2 * p_size::bigint)))::integer
  END
$$;

-- A failed run's message as the function's runner stores it (functions/errors.ts publicMessage):
-- one line, at most 500 characters.
CREATE FUNCTION scheduler.public_message(p_message text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN length(m) > 500 THEN left(m, 497) || '...' ELSE m END
  FROM (SELECT coalesce(nullif(btrim(regexp_replace(p_message, '\s+', ' ', 'g')), ''), 'unknown error') AS m) s
$$;

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
CREATE FUNCTION scheduler.run_pg_cron_statement(
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
      -- The runner's guardTripped message (functions/runner.ts).
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

-- A batched task, as a pg_cron job runs it: `CALL scheduler.run_pg_cron_batches(...)` alone in its
-- command, since only a CALL that is its own top-level statement may COMMIT (PostgreSQL: "Transaction
-- control is only possible in CALL or DO invocations from the top level ... without any other
-- intervening command", https://www.postgresql.org/docs/15/plpgsql-transactions.html). The
-- 'running' row is committed first (visible while batches go on; a cut-off run is marked interrupted
-- by the next), then the guard counts with the task's count statement, then each batch commits on
-- its own until one comes back short or the time budget is spent (`more`: the next run goes on),
-- sized by first_batch_size/next_batch_size. A block with an EXCEPTION clause cannot COMMIT, so
-- only each batch's EXECUTE is in a sub-block.
-- statement_timeout is armed once, when the CALL starts, from the session's setting, and cannot be
-- re-armed inside it: each batch waits at most the task's timeout for a lock (lock_timeout, read
-- whenever a wait begins), which is recorded as 'timeout'; the role's or database's
-- statement_timeout, if any, bounds the whole CALL.
-- A failed run is recorded and committed, then raised again, so pg_cron's own history says failed too.
CREATE PROCEDURE scheduler.run_pg_cron_batches(
  p_task text,
  p_batch text,
  p_count text,
  p_max_rows bigint,
  p_timeout_ms integer,
  p_time_zone text,
  p_size integer,
  p_time_budget_seconds integer,
  p_target_ms integer DEFAULT NULL,
  p_min_size integer DEFAULT NULL,
  p_max_size integer DEFAULT NULL,
  p_minutes integer[] DEFAULT NULL,
  p_hours integer[] DEFAULT NULL,
  p_days_of_month integer[] DEFAULT NULL,
  p_months integer[] DEFAULT NULL,
  p_days_of_week integer[] DEFAULT NULL,
  p_at timestamptz DEFAULT now()
)
LANGUAGE plpgsql AS $$
DECLARE
  v_tick timestamptz := date_trunc('minute', p_at);
  v_started timestamptz := clock_timestamp();
  v_outcome text;
  v_run bigint;
  v_due bigint;
  v_size integer;
  v_rows bigint;
  v_total bigint := 0;
  v_batches integer := 0;
  v_more boolean := false;
  v_batch_started timestamptz;
  v_code text;
  v_message text;
BEGIN
  IF (p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week) IS DISTINCT FROM
       (NULL::integer[], NULL::integer[], NULL::integer[], NULL::integer[], NULL::integer[])
     AND NOT scheduler.cron_matches(v_tick, p_time_zone, p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week) THEN
    RETURN;
  END IF;

  SELECT s.outcome, s.run_id INTO v_outcome, v_run
  FROM scheduler.start_run(p_task, 'pg_cron', NULL, v_tick, NULL, false, false, p_timeout_ms, p_time_zone,
                           NULL, v_tick) s;
  COMMIT;
  IF v_outcome <> 'started' THEN
    RETURN;
  END IF;

  PERFORM set_config('lock_timeout', p_timeout_ms::text || 'ms', false);

  IF p_max_rows IS NOT NULL THEN
    EXECUTE p_count INTO v_due USING p_max_rows + 1;
    IF v_due > p_max_rows THEN
      v_code := 'guard_tripped';
      v_message := format('%s would change %s rows, more than its limit of %s; nothing was changed (force the run to override)',
                          p_task, v_due, p_max_rows);
    END IF;
  END IF;

  IF v_code IS NULL THEN
    v_size := scheduler.first_batch_size(p_size, p_min_size, p_max_size);
    LOOP
      v_batch_started := clock_timestamp();
      BEGIN
        EXECUTE p_batch USING v_size;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
      EXCEPTION
        WHEN query_canceled THEN
          v_code := CASE WHEN SQLERRM ~* 'statement timeout' THEN 'timeout' ELSE 'task_failed' END;
          v_message := SQLERRM;
        WHEN lock_not_available THEN
          -- The task's timeout, as this procedure can arm it.
          v_code := CASE WHEN SQLERRM ~* 'lock timeout' THEN 'timeout' ELSE 'task_failed' END;
          v_message := SQLERRM;
        WHEN OTHERS THEN
          v_code := 'task_failed';
          v_message := SQLERRM;
      END;
      IF v_code IS NOT NULL THEN
        -- Committed batches stay committed; say how far the run got (as the runner does).
        v_message := scheduler.public_message(format('%s (after %s rows in %s batches)', v_message, v_total, v_batches));
        EXIT;
      END IF;
      COMMIT;
      v_total := v_total + v_rows;
      v_batches := v_batches + 1;
      EXIT WHEN v_rows < v_size;
      IF clock_timestamp() >= v_started + make_interval(secs => p_time_budget_seconds) THEN
        v_more := true;
        EXIT;
      END IF;
      -- The batch's transaction (its statement and commit) decides the next size, as in the runner.
      v_size := scheduler.next_batch_size(v_size, v_rows,
        extract(epoch FROM clock_timestamp() - v_batch_started) * 1000, p_target_ms, p_min_size, p_max_size);
    END LOOP;
  END IF;

  RESET lock_timeout;
  PERFORM scheduler.finish_run(v_run, CASE WHEN v_code IS NULL THEN 'succeeded' ELSE 'failed' END,
                               v_total, v_more, v_code, v_message);
  COMMIT;
  IF v_code IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = v_message, DETAIL = format('run %s of %s, recorded in scheduler.job_runs', v_run, p_task);
  END IF;
END
$$;
