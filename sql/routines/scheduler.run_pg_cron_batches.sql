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
CREATE OR REPLACE PROCEDURE scheduler.run_pg_cron_batches(
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
