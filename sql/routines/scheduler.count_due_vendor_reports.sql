-- How many reports of p_report_date are still to send (dry runs): claim_vendor_reports's rule.
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
