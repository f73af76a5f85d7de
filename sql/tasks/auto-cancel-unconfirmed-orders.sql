-- Cancel pending orders that the vendor has not confirmed in time.
-- The limit is system_settings.order_auto_cancel_minutes; when that row is absent or not a positive
-- whole number, 30 minutes (the seed's version compared with NULL then, and cancelled nothing).
-- Reads only the partial index orders_pending_placed_at_idx: fast however many orders there are.
UPDATE orders
SET status = 'cancelled',
    cancelled_at = now(),
    cancellation_reason = format(
      'Auto-cancelled: vendor did not confirm within %s minutes', cutoff.minutes),
    updated_at = now()
FROM (
  SELECT coalesce(
    (SELECT CASE WHEN setting_value ~ '^\s*[1-9][0-9]{0,4}\s*$' THEN trim(setting_value)::integer END
     FROM system_settings
     WHERE setting_key = 'order_auto_cancel_minutes'),
    30) AS minutes
  -- Read once: pulled up, the subquery would be copied into the SET and the WHERE and run twice.
  OFFSET 0
) AS cutoff
WHERE orders.status = 'pending'
  AND orders.is_active
  AND orders.placed_at < now() - cutoff.minutes * interval '1 minute';
