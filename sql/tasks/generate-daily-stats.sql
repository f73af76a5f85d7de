-- Upsert yesterday's order statistics. "Yesterday" is the day before the run's tick, in the task's
-- time zone (the runner sets the session's TimeZone to it and scheduler.tick() to the tick), so a
-- retry after midnight or a backfill of a past tick computes that tick's day, not today's.
-- The seed's version ran at 23:59 over "today", so it missed the day's last minute and inserted a
-- second row when retried; this one runs after midnight over a whole day, and a rerun writes
-- nothing unless the figures changed.
-- Revenue counts orders that were neither cancelled nor refunded.
INSERT INTO daily_order_stats AS stats (stats_date, total_orders, cancelled_orders, total_revenue, updated_at)
SELECT
  day.stats_date,
  count(o.id),
  count(o.id) FILTER (WHERE o.status = 'cancelled'),
  coalesce(sum(o.total_amount) FILTER (WHERE o.status NOT IN ('cancelled', 'refunded')), 0),
  now()
FROM (SELECT scheduler.tick()::date - 1 AS stats_date) AS day
LEFT JOIN orders o
  ON o.created_at >= day.stats_date::timestamptz
  AND o.created_at < (day.stats_date + 1)::timestamptz
GROUP BY day.stats_date
ON CONFLICT (stats_date) DO UPDATE
SET total_orders = excluded.total_orders,
    cancelled_orders = excluded.cancelled_orders,
    total_revenue = excluded.total_revenue,
    updated_at = excluded.updated_at
WHERE (stats.total_orders, stats.cancelled_orders, stats.total_revenue)
  IS DISTINCT FROM (excluded.total_orders, excluded.cancelled_orders, excluded.total_revenue);
