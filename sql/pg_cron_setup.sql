-- Generated from the stack dev: functions/core/catalog.ts with Pulumi.dev.yaml, and sql/tasks/*.sql
-- by `npm run pg-cron:generate`.
-- Do not edit: edit the catalog, the stack's config or the task's SQL and regenerate.
--
-- Schedules every SQL task of the stack in pg_cron, under the task's name and the stack's schedule.
-- Records the stack and those schedules in scheduler.pg_cron_setup: /health, the dashboard and
-- the CLI warn when the stack they read disagrees with them.
-- Idempotent: loading it again updates the jobs (pg_cron 1.4+ updates a job scheduled under an
-- existing name), pauses and resumes them as the stack says, and unschedules the jobs it
-- created earlier for tasks it no longer schedules (their command starts with "-- scheduled-jobs task:").
-- Load it as the role that owns the app's tables, into the database named by cron.database_name,
-- after `npm run migrate`:  psql -v ON_ERROR_STOP=1 -f sql/pg_cron_setup.sql
-- pg_cron reads schedules in cron.timezone (GMT; the setting exists from pg_cron 1.5): these are in
-- UTC, and loading fails when cron.timezone is another zone. A task in another zone runs hourly at
-- its minute and its job checks the tick against the task's schedule in its zone (docs/pg-cron.md).

BEGIN;

CREATE EXTENSION IF NOT EXISTS pg_cron;

DO $pg_cron_check$
DECLARE
  v_cron_zone text := coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');
BEGIN
  IF EXISTS (
    SELECT 1 FROM generate_series(now(), now() + interval '1 year', interval '1 day') AS s (at)
    WHERE (s.at AT TIME ZONE 'UTC') <> (s.at AT TIME ZONE v_cron_zone)
  ) THEN
    RAISE EXCEPTION 'pg_cron reads every schedule in cron.timezone (%), and these schedules are in UTC', v_cron_zone
      USING HINT = 'Leave cron.timezone at GMT (its default): each task''s own time zone is applied by its job.';
  END IF;
END
$pg_cron_check$;

-- Which stack this setup was rendered for, and each job's schedule in the stack's terms.
DO $pg_cron_check$
BEGIN
  IF to_regclass('scheduler.pg_cron_setup') IS NULL THEN
    RAISE EXCEPTION 'scheduler.pg_cron_setup does not exist: this database is not migrated'
      USING HINT = 'Run npm run migrate first, then load this setup (docs/pg-cron.md).';
  END IF;
END
$pg_cron_check$;
INSERT INTO scheduler.pg_cron_setup (id, stack, stack_file, setup_file, scope, jobs, loaded_at, loaded_by)
VALUES (true, 'dev', 'Pulumi.dev.yaml', 'sql/pg_cron_setup.sql', 'all-sql',
  '[
    {"task":"auto-cancel-unconfirmed-orders","schedule":"* * * * *","timeZone":"UTC","paused":false},
    {"task":"driver-inactivity-check","schedule":"*/5 * * * *","timeZone":"UTC","paused":false},
    {"task":"cleanup-expired-sessions","schedule":"0 * * * *","timeZone":"UTC","paused":false},
    {"task":"update-restaurant-ratings","schedule":"0 1 * * *","timeZone":"UTC","paused":false},
    {"task":"cleanup-orphaned-menus","schedule":"0 2 * * *","timeZone":"UTC","paused":false},
    {"task":"archive-old-orders","schedule":"0 4 * * 0","timeZone":"UTC","paused":false},
    {"task":"cleanup-distance-requests","schedule":"30 2 * * *","timeZone":"UTC","paused":false},
    {"task":"generate-daily-stats","schedule":"5 0 * * *","timeZone":"UTC","paused":false},
    {"task":"purge-run-history","schedule":"15 4 * * *","timeZone":"UTC","paused":false}
  ]'::jsonb, now(), current_user)
ON CONFLICT (id) DO UPDATE SET stack = excluded.stack, stack_file = excluded.stack_file,
  setup_file = excluded.setup_file, scope = excluded.scope, jobs = excluded.jobs,
  loaded_at = excluded.loaded_at, loaded_by = excluded.loaded_by;

-- auto-cancel-unconfirmed-orders: Cancel pending orders that the vendor has not confirmed within system_settings.order_auto_cancel_minutes (30 when unset).
SELECT cron.schedule('auto-cancel-unconfirmed-orders', '* * * * *', $pg_cron_job$-- scheduled-jobs task: auto-cancel-unconfirmed-orders
SET statement_timeout = '30s';
SELECT scheduler.run_pg_cron_statement(
  p_task => 'auto-cancel-unconfirmed-orders',
  p_statement => $pg_cron_sql$
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
  OFFSET 0
) AS cutoff
WHERE orders.status = 'pending'
  AND orders.is_active
  AND orders.placed_at < now() - cutoff.minutes * interval '1 minute'
$pg_cron_sql$,
  p_max_rows => 500,
  p_timeout_ms => 30000,
  p_time_zone => 'UTC'
);
$pg_cron_job$);

-- driver-inactivity-check: Mark available drivers with no location update for 30 minutes as unavailable.
SELECT cron.schedule('driver-inactivity-check', '*/5 * * * *', $pg_cron_job$-- scheduled-jobs task: driver-inactivity-check
SET statement_timeout = '30s';
SELECT scheduler.run_pg_cron_statement(
  p_task => 'driver-inactivity-check',
  p_statement => $pg_cron_sql$
UPDATE drivers
SET is_available = false
WHERE is_available
  AND updated_at < now() - interval '30 minutes'
$pg_cron_sql$,
  p_max_rows => 2000,
  p_timeout_ms => 30000,
  p_time_zone => 'UTC'
);
$pg_cron_job$);

-- cleanup-expired-sessions: Delete expired user sessions, in batches.
SELECT cron.schedule('cleanup-expired-sessions', '0 * * * *', $pg_cron_job$-- scheduled-jobs task: cleanup-expired-sessions
CALL scheduler.run_pg_cron_batches(
  p_task => 'cleanup-expired-sessions',
  p_batch => $pg_cron_sql$
DELETE FROM user_sessions
WHERE id = ANY (ARRAY(
  SELECT id
  FROM user_sessions
  WHERE expires_at < now()
  ORDER BY expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
))
$pg_cron_sql$,
  p_count => $pg_cron_count$
SELECT count(*) AS rows FROM (
  SELECT 1
  FROM user_sessions
  WHERE expires_at < now()
  LIMIT $1
) AS due
$pg_cron_count$,
  p_max_rows => NULL,
  p_timeout_ms => 120000,
  p_time_zone => 'UTC',
  p_size => 5000,
  p_time_budget_seconds => 90,
  p_target_ms => 100,
  p_min_size => 100,
  p_max_size => 50000
);
$pg_cron_job$);

-- update-restaurant-ratings: Recompute the rating of every restaurant reviewed in the last two days from its reviews.
SELECT cron.schedule('update-restaurant-ratings', '0 1 * * *', $pg_cron_job$-- scheduled-jobs task: update-restaurant-ratings
SET statement_timeout = '120s';
SELECT scheduler.run_pg_cron_statement(
  p_task => 'update-restaurant-ratings',
  p_statement => $pg_cron_sql$
UPDATE restaurants
SET rating = fresh.rating,
    updated_at = now()
FROM (
  SELECT DISTINCT recent.restaurant_id FROM reviews recent
  WHERE recent.created_at > greatest(
    now() - interval '2 days',
    (SELECT max(run.started_at) - interval '10 minutes' FROM scheduler.job_runs run
     WHERE run.task = 'update-restaurant-ratings' AND run.status = 'succeeded' AND NOT run.dry_run)
  )
) AS reviewed
CROSS JOIN LATERAL (
  SELECT round(avg(r.rating), 2) AS rating FROM reviews r WHERE r.restaurant_id = reviewed.restaurant_id
) AS fresh
WHERE restaurants.id = reviewed.restaurant_id
  AND restaurants.rating IS DISTINCT FROM fresh.rating
$pg_cron_sql$,
  p_max_rows => NULL,
  p_timeout_ms => 120000,
  p_time_zone => 'UTC'
);
$pg_cron_job$);

-- cleanup-orphaned-menus: Delete menus older than 30 days that no restaurant uses.
SELECT cron.schedule('cleanup-orphaned-menus', '0 2 * * *', $pg_cron_job$-- scheduled-jobs task: cleanup-orphaned-menus
SET statement_timeout = '120s';
SELECT scheduler.run_pg_cron_statement(
  p_task => 'cleanup-orphaned-menus',
  p_statement => $pg_cron_sql$
DELETE FROM menus
WHERE id = ANY ((SELECT scheduler.orphaned_menus(now() - interval '30 days'))::bigint[])
  AND created_at < now() - interval '30 days'
$pg_cron_sql$,
  p_max_rows => 10000,
  p_timeout_ms => 120000,
  p_time_zone => 'UTC'
);
$pg_cron_job$);

-- archive-old-orders: Deactivate delivered, cancelled and refunded orders that reached that state more than 90 days ago, in batches.
SELECT cron.schedule('archive-old-orders', '0 4 * * 0', $pg_cron_job$-- scheduled-jobs task: archive-old-orders
CALL scheduler.run_pg_cron_batches(
  p_task => 'archive-old-orders',
  p_batch => $pg_cron_sql$
UPDATE orders
SET is_active = false,
    updated_at = now()
WHERE id = ANY (ARRAY(
  SELECT id
  FROM orders
  WHERE is_active
    AND status IN ('delivered', 'cancelled', 'refunded')
    AND (CASE
      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)
      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)
      ELSE updated_at
    END) < now() - interval '90 days'
  ORDER BY (CASE
      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)
      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)
      ELSE updated_at
    END)
  LIMIT $1
  FOR UPDATE SKIP LOCKED
))
$pg_cron_sql$,
  p_count => $pg_cron_count$
SELECT count(*) AS rows FROM (
  SELECT 1
  FROM orders
  WHERE is_active
    AND status IN ('delivered', 'cancelled', 'refunded')
    AND (CASE
      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)
      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)
      ELSE updated_at
    END) < now() - interval '90 days'
  LIMIT $1
) AS due
$pg_cron_count$,
  p_max_rows => NULL,
  p_timeout_ms => 900000,
  p_time_zone => 'UTC',
  p_size => 1000,
  p_time_budget_seconds => 600,
  p_target_ms => 100,
  p_min_size => 100,
  p_max_size => 50000
);
$pg_cron_job$);

-- cleanup-distance-requests: Delete distance API requests older than 90 days, in batches.
SELECT cron.schedule('cleanup-distance-requests', '30 2 * * *', $pg_cron_job$-- scheduled-jobs task: cleanup-distance-requests
CALL scheduler.run_pg_cron_batches(
  p_task => 'cleanup-distance-requests',
  p_batch => $pg_cron_sql$
DELETE FROM distance_requests
WHERE id = ANY (ARRAY(
  SELECT id
  FROM distance_requests
  WHERE created_at < now() - interval '90 days'
  ORDER BY created_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
))
$pg_cron_sql$,
  p_count => $pg_cron_count$
SELECT count(*) AS rows FROM (
  SELECT 1
  FROM distance_requests
  WHERE created_at < now() - interval '90 days'
  LIMIT $1
) AS due
$pg_cron_count$,
  p_max_rows => NULL,
  p_timeout_ms => 600000,
  p_time_zone => 'UTC',
  p_size => 10000,
  p_time_budget_seconds => 420,
  p_target_ms => 100,
  p_min_size => 100,
  p_max_size => 50000
);
$pg_cron_job$);

-- generate-daily-stats: Upsert yesterday's row of daily_order_stats (idempotent: a rerun changes nothing).
SELECT cron.schedule('generate-daily-stats', '5 0 * * *', $pg_cron_job$-- scheduled-jobs task: generate-daily-stats
SET statement_timeout = '120s';
SELECT scheduler.run_pg_cron_statement(
  p_task => 'generate-daily-stats',
  p_statement => $pg_cron_sql$
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
  IS DISTINCT FROM (excluded.total_orders, excluded.cancelled_orders, excluded.total_revenue)
$pg_cron_sql$,
  p_max_rows => NULL,
  p_timeout_ms => 120000,
  p_time_zone => 'UTC'
);
$pg_cron_job$);

-- purge-run-history: Delete scheduler.job_runs older than the retention (scheduler.run_retention_days, default 30), in batches.
SELECT cron.schedule('purge-run-history', '15 4 * * *', $pg_cron_job$-- scheduled-jobs task: purge-run-history
CALL scheduler.run_pg_cron_batches(
  p_task => 'purge-run-history',
  p_batch => $pg_cron_sql$
DELETE FROM scheduler.job_runs
WHERE id = ANY (ARRAY(
  SELECT id
  FROM scheduler.job_runs
  WHERE started_at < now() - scheduler.run_retention()
    AND status <> 'running'
  ORDER BY started_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
))
$pg_cron_sql$,
  p_count => $pg_cron_count$
SELECT count(*) AS rows FROM (
  SELECT 1
  FROM scheduler.job_runs
  WHERE started_at < now() - scheduler.run_retention()
    AND status <> 'running'
  LIMIT $1
) AS due
$pg_cron_count$,
  p_max_rows => NULL,
  p_timeout_ms => 300000,
  p_time_zone => 'UTC',
  p_size => 10000,
  p_time_budget_seconds => 240,
  p_target_ms => 100,
  p_min_size => 100,
  p_max_size => 50000
);
$pg_cron_job$);

-- purge-cron-run-details: pg_cron never deletes its run history (cron.job_run_details); this job keeps
-- as much of it as of scheduler.job_runs: scheduler.run_retention() (scheduler.run_retention_days, 30 by default).
SELECT cron.schedule('purge-cron-run-details', '45 4 * * *', $pg_cron_job$-- scheduled-jobs task: purge-cron-run-details
DELETE FROM cron.job_run_details WHERE start_time < now() - scheduler.run_retention();
$pg_cron_job$);

-- Paused tasks stay scheduled but inactive; a task no longer paused is active again. A loop, so
-- that cron.alter_job (which a role other than a superuser must be granted) is only called to change one.
DO $pg_cron_check$
DECLARE
  v_job record;
BEGIN
  FOR v_job IN
    SELECT j.jobid, NOT t.paused AS active
    FROM cron.job j
    JOIN (VALUES
      ('auto-cancel-unconfirmed-orders', false),
      ('driver-inactivity-check', false),
      ('cleanup-expired-sessions', false),
      ('update-restaurant-ratings', false),
      ('cleanup-orphaned-menus', false),
      ('archive-old-orders', false),
      ('cleanup-distance-requests', false),
      ('generate-daily-stats', false),
      ('purge-run-history', false)
    ) AS t (task, paused) ON j.jobname = t.task
    WHERE j.username = current_user AND j.active = t.paused
  LOOP
    PERFORM cron.alter_job(v_job.jobid, active := v_job.active);
  END LOOP;
END
$pg_cron_check$;

-- Jobs this script created for tasks it no longer schedules.
SELECT cron.unschedule(j.jobid)
FROM cron.job j
WHERE j.username = current_user
  AND left(j.command, 23) = '-- scheduled-jobs task:'
  AND j.jobname <> ALL (ARRAY['auto-cancel-unconfirmed-orders', 'driver-inactivity-check', 'cleanup-expired-sessions', 'update-restaurant-ratings', 'cleanup-orphaned-menus', 'archive-old-orders', 'cleanup-distance-requests', 'generate-daily-stats', 'purge-run-history', 'purge-cron-run-details']);

COMMIT;
