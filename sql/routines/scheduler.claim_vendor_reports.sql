-- Claims up to p_limit restaurants whose report for p_report_date is not sent yet, and returns each
-- with its figures for that day (in the session's time zone, the task's). A restaurant is due when
-- it has an email and no delivery row, a released one ('pending'), or an abandoned claim
-- (scheduler.claim_is_abandoned). The claim commits before anything is sent: see docs/email.md for
-- the delivery guarantee this is half of.
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
