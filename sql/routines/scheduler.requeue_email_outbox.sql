-- Dead rows of a kind back to pending, due now with their attempts restarted, chosen by when they
-- were queued ([p_from, p_to)) and by address (case-insensitive); NULL matches any. The recipient is
-- looked up again if it was missing. With p_dry_run only counts. Returns how many. Called by
-- `npm run cli -- requeue`.
CREATE OR REPLACE FUNCTION scheduler.requeue_email_outbox(
  p_kind text,
  p_from timestamptz,
  p_to timestamptz,
  p_address text,
  p_dry_run boolean
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  IF p_dry_run THEN
    SELECT count(*) INTO v_count FROM scheduler.email_outbox o
    WHERE o.kind = p_kind AND o.status = 'dead'
      AND (p_from IS NULL OR o.created_at >= p_from) AND (p_to IS NULL OR o.created_at < p_to)
      AND (p_address IS NULL OR lower(o.recipient) = lower(p_address));
    RETURN v_count;
  END IF;
  UPDATE scheduler.email_outbox o
  SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL, alerted_at = NULL,
      last_error = 'requeued by an operator; before: ' || coalesce(o.last_error, 'no error recorded')
  WHERE o.kind = p_kind AND o.status = 'dead'
    AND (p_from IS NULL OR o.created_at >= p_from) AND (p_to IS NULL OR o.created_at < p_to)
    AND (p_address IS NULL OR lower(o.recipient) = lower(p_address));
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;
