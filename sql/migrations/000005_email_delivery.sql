-- Email delivery, written once: besides each claim function (000003), the functions that record a
-- claimed message as sent, refused or dead, and that give back what a run claimed and did not send.
-- The email tasks call these and nothing else writes a claim's status, so the states a message can
-- be in are decided here, next to the claim that reads them.

-- Vendor reports ------------------------------------------------------------------------------

-- SendGrid accepted these reports (one API call, one message id).
CREATE FUNCTION scheduler.mark_vendor_reports_sent(
  p_report_date date,
  p_run_id bigint,
  p_restaurant_ids bigint[],
  p_message_id text
) RETURNS integer
LANGUAGE sql AS $$
  WITH marked AS (
    UPDATE scheduler.vendor_report_deliveries
    SET status = 'sent', message_id = p_message_id, sent_at = now(), lease_until = NULL, last_error = NULL
    WHERE report_date = p_report_date AND run_id = p_run_id AND restaurant_id = ANY(p_restaurant_ids)
      AND status = 'sending'
    RETURNING 1)
  SELECT count(*)::integer FROM marked
$$;

-- SendGrid refused these addresses: not retried (an operator can requeue them).
CREATE FUNCTION scheduler.mark_vendor_reports_rejected(
  p_report_date date,
  p_run_id bigint,
  p_restaurant_ids bigint[],
  p_reason text
) RETURNS integer
LANGUAGE sql AS $$
  WITH marked AS (
    UPDATE scheduler.vendor_report_deliveries
    SET status = 'rejected', lease_until = NULL, last_error = p_reason
    WHERE report_date = p_report_date AND run_id = p_run_id AND restaurant_id = ANY(p_restaurant_ids)
      AND status = 'sending'
    RETURNING 1)
  SELECT count(*)::integer FROM marked
$$;

-- Not sent, as far as SendGrid told us: due again for the next run (Cloud Scheduler retries the tick).
CREATE FUNCTION scheduler.release_vendor_reports(
  p_report_date date,
  p_run_id bigint,
  p_error text
) RETURNS TABLE (released integer, dead integer)
LANGUAGE sql AS $$
  WITH released AS (
    UPDATE scheduler.vendor_report_deliveries
    SET status = 'pending', lease_until = NULL, last_error = p_error
    WHERE report_date = p_report_date AND run_id = p_run_id AND status = 'sending'
    RETURNING 1)
  SELECT count(*)::integer, 0 FROM released
$$;

-- The outbox ----------------------------------------------------------------------------------

CREATE FUNCTION scheduler.mark_email_outbox_sent(
  p_ids bigint[],
  p_run_id bigint,
  p_message_id text
) RETURNS integer
LANGUAGE sql AS $$
  WITH marked AS (
    UPDATE scheduler.email_outbox
    SET status = 'sent', message_id = p_message_id, sent_at = now(), lease_until = NULL, last_error = NULL
    WHERE id = ANY(p_ids) AND run_id = p_run_id AND status = 'sending'
    RETURNING 1)
  SELECT count(*)::integer FROM marked
$$;

-- A refused or missing address: dead at once (no retry can fix it).
CREATE FUNCTION scheduler.mark_email_outbox_rejected(
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

-- What the run claimed and did not send goes back to pending, due after a delay that doubles with
-- each attempt (p_backoff_seconds, capped at p_max_backoff_seconds), or dead after p_max_attempts.
CREATE FUNCTION scheduler.release_email_outbox(
  p_kind text,
  p_run_id bigint,
  p_error text,
  p_max_attempts integer,
  p_backoff_seconds integer,
  p_max_backoff_seconds integer
) RETURNS TABLE (released integer, dead integer)
LANGUAGE sql AS $$
  WITH released AS (
    UPDATE scheduler.email_outbox
    SET status = CASE WHEN attempts >= p_max_attempts THEN 'dead' ELSE 'pending' END,
        next_attempt_at = now() + make_interval(
          secs => least(p_max_backoff_seconds::double precision,
                        p_backoff_seconds * power(2, least(attempts - 1, 30)))),
        lease_until = NULL,
        last_error = p_error
    WHERE run_id = p_run_id AND kind = p_kind AND status = 'sending'
    RETURNING status)
  SELECT count(*) FILTER (WHERE status = 'pending')::integer, count(*) FILTER (WHERE status = 'dead')::integer
  FROM released
$$;

-- A claim belongs to its run while that run is running and its lease lasts ---------------------
--
-- A run that crashed (instance stopped, connection lost) leaves its claims 'sending'. The next run
-- of the task takes them over at once instead of after the lease: it holds the task's lock, so no
-- other run of the task is running, and start_run has marked the crashed run interrupted. A retry
-- of the tick that crashed therefore resumes that tick's work (a lease alone would make the retry
-- find nothing, succeed, and take the tick's slot with the day's reports unsent). What the crashed
-- run handed to SendGrid without recording it is sent again: the at-least-once window of 000003,
-- marked by custom_args.email_key.
CREATE FUNCTION scheduler.claim_is_abandoned(p_lease_until timestamptz, p_run_id bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_lease_until < now()
      OR NOT EXISTS (SELECT 1 FROM scheduler.job_runs r WHERE r.id = p_run_id AND r.status = 'running')
$$;

CREATE OR REPLACE FUNCTION scheduler.claim_vendor_reports(
  p_report_date date,
  p_limit integer,
  p_run_id bigint,
  p_lease_seconds integer
) RETURNS TABLE (
  restaurant_id bigint,
  name text,
  email text,
  orders bigint,
  delivered bigint,
  cancelled bigint,
  revenue numeric
)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  WITH due AS (
    SELECT r.id, r.name, btrim(r.email) AS email
    FROM restaurants r
    LEFT JOIN scheduler.vendor_report_deliveries d
      ON d.restaurant_id = r.id AND d.report_date = p_report_date
    WHERE nullif(btrim(r.email), '') IS NOT NULL
      AND (d.restaurant_id IS NULL OR d.status = 'pending'
           OR (d.status = 'sending' AND scheduler.claim_is_abandoned(d.lease_until, d.run_id)))
    ORDER BY r.id
    LIMIT p_limit
  ),
  claimed AS (
    INSERT INTO scheduler.vendor_report_deliveries AS v
      (restaurant_id, report_date, email, status, attempts, run_id, lease_until)
    SELECT due.id, p_report_date, due.email, 'sending', 1, p_run_id,
           now() + make_interval(secs => p_lease_seconds)
    FROM due
    ON CONFLICT ON CONSTRAINT vendor_report_deliveries_pkey DO UPDATE
      SET status = 'sending', attempts = v.attempts + 1, run_id = excluded.run_id,
          lease_until = excluded.lease_until, email = excluded.email
      WHERE v.status = 'pending'
         OR (v.status = 'sending' AND scheduler.claim_is_abandoned(v.lease_until, v.run_id))
    RETURNING v.restaurant_id
  ),
  figures AS (
    SELECT o.restaurant_id,
           count(*) AS orders,
           count(*) FILTER (WHERE o.status = 'delivered') AS delivered,
           count(*) FILTER (WHERE o.status = 'cancelled') AS cancelled,
           coalesce(sum(o.total_amount) FILTER (WHERE o.status = 'delivered'), 0) AS revenue
    FROM orders o
    WHERE o.created_at >= p_report_date::timestamptz
      AND o.created_at < (p_report_date + 1)::timestamptz
      AND o.restaurant_id IN (SELECT c.restaurant_id FROM claimed c)
    GROUP BY o.restaurant_id
  )
  SELECT due.id, due.name, due.email,
         coalesce(f.orders, 0), coalesce(f.delivered, 0), coalesce(f.cancelled, 0), coalesce(f.revenue, 0)
  FROM due
  JOIN claimed c ON c.restaurant_id = due.id
  LEFT JOIN figures f ON f.restaurant_id = due.id
  ORDER BY due.id;
END
$$;

CREATE OR REPLACE FUNCTION scheduler.count_due_vendor_reports(p_report_date date) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT count(*)
  FROM restaurants r
  LEFT JOIN scheduler.vendor_report_deliveries d
    ON d.restaurant_id = r.id AND d.report_date = p_report_date
  WHERE nullif(btrim(r.email), '') IS NOT NULL
    AND (d.restaurant_id IS NULL OR d.status = 'pending'
         OR (d.status = 'sending' AND scheduler.claim_is_abandoned(d.lease_until, d.run_id)))
$$;

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

-- How many outbox rows of a kind a run would claim now (dry runs).
CREATE FUNCTION scheduler.count_due_email_outbox(p_kind text) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM scheduler.email_outbox o
  WHERE o.kind = p_kind
    AND ((o.status = 'pending' AND o.next_attempt_at <= now())
         OR (o.status = 'sending' AND scheduler.claim_is_abandoned(o.lease_until, o.run_id)))
$$;

-- Dead rows: alerted once, requeued by an operator ----------------------------------------------

-- When ops was told this row died (alert-failed-runs lists each dead row once).
ALTER TABLE scheduler.email_outbox ADD COLUMN alerted_at timestamptz;
CREATE INDEX email_outbox_unalerted_dead_idx ON scheduler.email_outbox (id)
  WHERE status = 'dead' AND alerted_at IS NULL;

-- Dead rows of a kind back to pending, due now with their attempts restarted, chosen by when they
-- were queued ([p_from, p_to)) and by address (case-insensitive); NULL matches any. The recipient is
-- looked up again if it was missing. With p_dry_run only counts. Returns how many.
CREATE FUNCTION scheduler.requeue_email_outbox(
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
