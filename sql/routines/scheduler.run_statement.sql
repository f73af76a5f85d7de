-- A single-statement task's work and the record of its success in one statement, for a run opened
-- by start_run on this session with its id known to the caller. The runner now sends
-- run_opened_statement, which needs no run id; this one stays for instances of an earlier release
-- still serving during a deploy, and goes when a migration drops it.
-- The task's SQL comes as text (the function's own generated SQL, a parameter, never a request's)
-- and is EXECUTEd. A run that would change more than p_max_rows rows raises SQLSTATE SJ001 with the
-- count as its detail, which rolls the change back; the caller records that run as the
-- blast-radius guard's. Any other error rolls back the same way, and the caller records it.
CREATE OR REPLACE FUNCTION scheduler.run_statement(p_run_id bigint, p_statement text, p_max_rows bigint)
RETURNS TABLE (rows_affected bigint, duration_ms integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_rows bigint;
BEGIN
  EXECUTE p_statement;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF p_max_rows IS NOT NULL AND v_rows > p_max_rows THEN
    RAISE EXCEPTION 'the run would change % rows, more than its limit of %', v_rows, p_max_rows
      USING ERRCODE = 'SJ001', DETAIL = v_rows::text;
  END IF;
  RETURN QUERY SELECT v_rows, scheduler.finish_run(p_run_id, 'succeeded', v_rows, false, NULL, NULL);
END
$$;
