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
