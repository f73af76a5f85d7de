-- SendGrid refused these addresses: not retried (an operator can requeue them).
CREATE OR REPLACE FUNCTION scheduler.mark_vendor_reports_rejected(
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
