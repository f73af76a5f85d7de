-- How many outbox rows of a kind a run would claim now (dry runs): claim_email_outbox's rule.
CREATE OR REPLACE FUNCTION scheduler.count_due_email_outbox(p_kind text) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM scheduler.email_outbox o
  WHERE o.kind = p_kind
    AND ((o.status = 'pending' AND o.next_attempt_at <= now())
         OR (o.status = 'sending' AND scheduler.claim_is_abandoned(o.lease_until, o.run_id)))
$$;
