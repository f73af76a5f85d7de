-- A single-statement task's work and the record of its success in one statement: one round trip
-- and one transaction, so the work and its record commit together (or neither does), as when the
-- runner sent the statement and the record apart. The run was opened by scheduler.start_run on
-- this session (its lock, its 'running' row committed, the task's statement_timeout, TimeZone and
-- tick set): the SELECT that calls this is the one top-level statement that timeout is armed for.
--
-- The task's SQL comes as text (the function's own generated SQL, a parameter, never a request's)
-- and is EXECUTEd: a plan made for this run, as a simple query's is. A run that would change more
-- than p_max_rows rows raises SQLSTATE SJ001 with the count as its detail, which rolls the change
-- back; the caller records that run as the blast-radius guard's. Any other error rolls back the
-- same way, and the caller records it.
CREATE FUNCTION scheduler.run_statement(p_run_id bigint, p_statement text, p_max_rows bigint)
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
