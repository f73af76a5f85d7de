// Generated from sql/tasks/*.sql (by `npm run build`, `npm run task`, `npm test` or `npm run sql:generate`). Do not edit: edit the .sql files.
import type { TaskSqlFile } from "./task-sql.js";

export const taskSql: Readonly<Record<string, TaskSqlFile>> = {
  "archive-old-orders": {
    "batch": "UPDATE orders\nSET is_active = false,\n    updated_at = now()\nWHERE id = ANY (ARRAY(\n  SELECT id\n  FROM orders\n  WHERE is_active\n    AND status IN ('delivered', 'cancelled', 'refunded')\n    AND (CASE\n      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)\n      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)\n      ELSE updated_at\n    END) < now() - interval '90 days'\n  ORDER BY (CASE\n      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)\n      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)\n      ELSE updated_at\n    END)\n  LIMIT $1\n  FOR UPDATE SKIP LOCKED\n));",
    "count": "SELECT count(*) AS rows FROM (\n  SELECT 1\n  FROM orders\n  WHERE is_active\n    AND status IN ('delivered', 'cancelled', 'refunded')\n    AND (CASE\n      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)\n      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)\n      ELSE updated_at\n    END) < now() - interval '90 days'\n  LIMIT $1\n) AS due;"
  },
  "auto-cancel-unconfirmed-orders": {
    "statement": "UPDATE orders\nSET status = 'cancelled',\n    cancelled_at = now(),\n    cancellation_reason = format(\n      'Auto-cancelled: vendor did not confirm within %s minutes', cutoff.minutes),\n    updated_at = now()\nFROM (\n  SELECT coalesce(\n    (SELECT CASE WHEN setting_value ~ '^\\s*[1-9][0-9]{0,4}\\s*$' THEN trim(setting_value)::integer END\n     FROM system_settings\n     WHERE setting_key = 'order_auto_cancel_minutes'),\n    30) AS minutes\n  OFFSET 0\n) AS cutoff\nWHERE orders.status = 'pending'\n  AND orders.is_active\n  AND orders.placed_at < now() - cutoff.minutes * interval '1 minute';"
  },
  "cleanup-distance-requests": {
    "batch": "DELETE FROM distance_requests\nWHERE id = ANY (ARRAY(\n  SELECT id\n  FROM distance_requests\n  WHERE created_at < now() - interval '90 days'\n  ORDER BY created_at\n  LIMIT $1\n  FOR UPDATE SKIP LOCKED\n));",
    "count": "SELECT count(*) AS rows FROM (\n  SELECT 1\n  FROM distance_requests\n  WHERE created_at < now() - interval '90 days'\n  LIMIT $1\n) AS due;"
  },
  "cleanup-expired-sessions": {
    "batch": "DELETE FROM user_sessions\nWHERE id = ANY (ARRAY(\n  SELECT id\n  FROM user_sessions\n  WHERE expires_at < now()\n  ORDER BY expires_at\n  LIMIT $1\n  FOR UPDATE SKIP LOCKED\n));",
    "count": "SELECT count(*) AS rows FROM (\n  SELECT 1\n  FROM user_sessions\n  WHERE expires_at < now()\n  LIMIT $1\n) AS due;"
  },
  "cleanup-orphaned-menus": {
    "statement": "DELETE FROM menus\nWHERE id = ANY ((SELECT scheduler.orphaned_menus(now() - interval '30 days'))::bigint[])\n  AND created_at < now() - interval '30 days';"
  },
  "driver-inactivity-check": {
    "statement": "UPDATE drivers\nSET is_available = false\nWHERE is_available\n  AND updated_at < now() - interval '30 minutes';"
  },
  "generate-daily-stats": {
    "statement": "INSERT INTO daily_order_stats AS stats (stats_date, total_orders, cancelled_orders, total_revenue, updated_at)\nSELECT\n  day.stats_date,\n  count(o.id),\n  count(o.id) FILTER (WHERE o.status = 'cancelled'),\n  coalesce(sum(o.total_amount) FILTER (WHERE o.status NOT IN ('cancelled', 'refunded')), 0),\n  now()\nFROM (SELECT scheduler.tick()::date - 1 AS stats_date) AS day\nLEFT JOIN orders o\n  ON o.created_at >= day.stats_date::timestamptz\n  AND o.created_at < (day.stats_date + 1)::timestamptz\nGROUP BY day.stats_date\nON CONFLICT (stats_date) DO UPDATE\nSET total_orders = excluded.total_orders,\n    cancelled_orders = excluded.cancelled_orders,\n    total_revenue = excluded.total_revenue,\n    updated_at = excluded.updated_at\nWHERE (stats.total_orders, stats.cancelled_orders, stats.total_revenue)\n  IS DISTINCT FROM (excluded.total_orders, excluded.cancelled_orders, excluded.total_revenue);"
  },
  "purge-run-history": {
    "batch": "DELETE FROM scheduler.job_runs\nWHERE id = ANY (ARRAY(\n  SELECT id\n  FROM scheduler.job_runs\n  WHERE started_at < now() - scheduler.run_retention()\n    AND status <> 'running'\n  ORDER BY started_at\n  LIMIT $1\n  FOR UPDATE SKIP LOCKED\n));",
    "count": "SELECT count(*) AS rows FROM (\n  SELECT 1\n  FROM scheduler.job_runs\n  WHERE started_at < now() - scheduler.run_retention()\n    AND status <> 'running'\n  LIMIT $1\n) AS due;"
  },
  "update-restaurant-ratings": {
    "statement": "UPDATE restaurants\nSET rating = fresh.rating,\n    updated_at = now()\nFROM (\n  SELECT DISTINCT recent.restaurant_id FROM reviews recent\n  WHERE recent.created_at > greatest(\n    now() - interval '2 days',\n    (SELECT max(run.started_at) - interval '10 minutes' FROM scheduler.job_runs run\n     WHERE run.task = 'update-restaurant-ratings' AND run.status = 'succeeded' AND NOT run.dry_run)\n  )\n) AS reviewed\nCROSS JOIN LATERAL (\n  SELECT round(avg(r.rating), 2) AS rating FROM reviews r WHERE r.restaurant_id = reviewed.restaurant_id\n) AS fresh\nWHERE restaurants.id = reviewed.restaurant_id\n  AND restaurants.rating IS DISTINCT FROM fresh.rating;"
  },
};
