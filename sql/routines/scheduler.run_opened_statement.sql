-- The work of the run this session opened (start_run, in the same simple query:
-- `BEGIN; SELECT ... start_run(...); COMMIT; SELECT ... run_opened_statement(...)`) and the record
-- of its success, in one statement and one transaction, so the work and its record commit together
-- (or neither does) in one round trip. With no open run (start_run opened none, or failed: a
-- setting changed in a transaction that rolls back reverts with it) it does nothing and returns no
-- row. The task's SQL comes as text (the function's own generated SQL, never a request's) and is
-- EXECUTEd: a plan made for this run, as a simple query's is. A run that would change more than
-- p_max_rows rows raises SQLSTATE SJ001 with the count as its detail, and any error rolls the work
-- and its record back for the caller to record the failure. It answers through its output columns
-- (a RETURN QUERY is one more query run).
--
-- Work that wrote nothing (it needed no transaction id: most every-minute runs) leaves its record
-- as the transaction's only change, and that commits asynchronously, as the opening did: a
-- database crash within a fraction of a second can lose the record of a run that changed nothing,
-- and running it again changes nothing either. Work that wrote commits synchronously, as always.
CREATE OR REPLACE FUNCTION scheduler.run_opened_statement(p_statement text, p_max_rows bigint)
RETURNS TABLE (run_id bigint, rows_affected bigint, duration_ms integer)
LANGUAGE plpgsql AS $$
BEGIN
  run_id := nullif(current_setting('scheduler.run_id', true), '')::bigint;
  IF run_id IS NULL THEN
    RETURN;
  END IF;
  EXECUTE p_statement;
  GET DIAGNOSTICS rows_affected = ROW_COUNT;
  IF p_max_rows IS NOT NULL AND rows_affected > p_max_rows THEN
    RAISE EXCEPTION 'the run would change % rows, more than its limit of %', rows_affected, p_max_rows
      USING ERRCODE = 'SJ001', DETAIL = rows_affected::text;
  END IF;
  -- Work that wrote nothing commits its record asynchronously (see sql/routines/scheduler.run_opened_statement.sql).
  IF pg_current_xact_id_if_assigned() IS NULL THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  duration_ms := scheduler.finish_run(run_id, 'succeeded', rows_affected, false, NULL, NULL);
  RETURN NEXT;
END
$$;
