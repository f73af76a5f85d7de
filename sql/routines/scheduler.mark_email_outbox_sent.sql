-- SendGrid accepted these outbox rows (one API call, one message id).
CREATE OR REPLACE FUNCTION scheduler.mark_email_outbox_sent(
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
