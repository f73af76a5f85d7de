-- Not sent, as far as SendGrid told us: due again for the next run (the scheduler retries the
-- tick).
CREATE OR REPLACE FUNCTION scheduler.release_vendor_reports(
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
