-- name: batch
-- Delete one batch ($1 rows at most) of finished runs older than the retention, scheduler.run_retention():
-- the setting scheduler.run_retention_days (ALTER DATABASE ... SET scheduler.run_retention_days = 90),
-- 30 by default; pg_cron's purge job keeps cron.job_run_details by the same rule.
DELETE FROM scheduler.job_runs
WHERE id = ANY (ARRAY(
  SELECT id
  -- due: begin
  FROM scheduler.job_runs
  WHERE started_at < now() - scheduler.run_retention()
    AND status <> 'running'
  -- due: end
  ORDER BY started_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));
