-- Claims up to p_limit due outbox rows of one kind. SKIP LOCKED lets two drains that overlap take
-- disjoint rows; the committed 'sending' state and its lease keep a later drain off them. An
-- abandoned claim (scheduler.claim_is_abandoned) with no attempt left is parked as dead: whether it
-- went out is unknown, and a human should look rather than the drain send it a
-- (p_max_attempts + 1)th time.
CREATE OR REPLACE FUNCTION scheduler.claim_email_outbox(
  p_kind text,
  p_limit integer,
  p_run_id bigint,
  p_lease_seconds integer,
  p_max_attempts integer
) RETURNS TABLE (
  id bigint,
  order_id bigint,
  recipient text,
  payload jsonb,
  attempts integer,
  restaurant_name text
)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE scheduler.email_outbox o
  SET status = 'dead',
      last_error = coalesce(o.last_error || '; ', '') || 'its run ended during the last attempt; delivery unknown',
      lease_until = NULL
  WHERE o.kind = p_kind AND o.status = 'sending' AND o.attempts >= p_max_attempts
    AND scheduler.claim_is_abandoned(o.lease_until, o.run_id);

  RETURN QUERY
  WITH due AS (
    SELECT o.id FROM scheduler.email_outbox o
    WHERE o.kind = p_kind
      AND ((o.status = 'pending' AND o.next_attempt_at <= now())
           OR (o.status = 'sending' AND scheduler.claim_is_abandoned(o.lease_until, o.run_id)))
    ORDER BY o.id
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  ),
  claimed AS (
    UPDATE scheduler.email_outbox o
    SET status = 'sending',
        attempts = o.attempts + 1,
        run_id = p_run_id,
        lease_until = now() + make_interval(secs => p_lease_seconds),
        recipient = coalesce(o.recipient, scheduler.order_confirmation_recipient(o.order_id))
    FROM due
    WHERE o.id = due.id
    RETURNING o.id, o.order_id, o.recipient, o.payload, o.attempts
  )
  SELECT c.id, c.order_id, c.recipient, c.payload, c.attempts, r.name
  FROM claimed c
  LEFT JOIN orders ord ON ord.id = c.order_id
  LEFT JOIN restaurants r ON r.id = ord.restaurant_id
  ORDER BY c.id;
END
$$;
