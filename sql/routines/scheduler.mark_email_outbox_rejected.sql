-- A refused or missing address: dead at once (no retry can fix it).
CREATE OR REPLACE FUNCTION scheduler.mark_email_outbox_rejected(
  p_ids bigint[],
  p_run_id bigint,
  p_reason text
) RETURNS integer
LANGUAGE sql AS $$
  WITH marked AS (
    UPDATE scheduler.email_outbox
    SET status = 'dead', lease_until = NULL, last_error = p_reason
    WHERE id = ANY(p_ids) AND run_id = p_run_id AND status = 'sending'
    RETURNING 1)
  SELECT count(*)::integer FROM marked
$$;
