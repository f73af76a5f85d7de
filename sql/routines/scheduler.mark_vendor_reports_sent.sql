-- SendGrid accepted these reports (one API call, one message id). The email tasks call these
-- routines and nothing else writes a claim's status, so the states a message can be in are decided
-- in the routines, next to the claim that reads them.
CREATE OR REPLACE FUNCTION scheduler.mark_vendor_reports_sent(
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
