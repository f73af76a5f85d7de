-- Per task, over its run history (dry runs excluded), for GET /health, the dashboard and
-- `cli health`. The catalog adds schedule, time zone, next run and overdue; they are not the
-- database's to know. last_success_tick is the latest tick a success stood for (its schedule time;
-- a manual run's start): a manual run after a missed tick repairs it, one before a tick does not
-- count as that tick. The last run is the last one that ran: a tick recorded 'skipped' or 'paused'
-- did nothing, and counting it would show a resumed task as paused and hide a failed last run.
-- The pause itself shows from scheduler.task_pauses.
--
-- CREATE OR REPLACE VIEW may only add columns at the end: a change that renames, removes or
-- retypes one needs `DROP VIEW IF EXISTS scheduler.job_health;` above this statement, and the
-- function's role its SELECT again (`npm run migrate -- --grant-to <role>`).
CREATE OR REPLACE VIEW scheduler.job_health AS
SELECT
  t.task,
  s.runs_24h,
  s.succeeded_24h,
  s.failures_24h,
  s.skipped_24h,
  s.p50_ms,
  s.p95_ms,
  last_run.started_at AS last_run_at,
  last_run.status AS last_status,
  last_success.started_at AS last_success_at,
  last_success.schedule_time AS last_success_schedule_time,
  last_failure.started_at AS last_failure_at,
  last_failure.message AS last_error,
  EXISTS (
    SELECT 1 FROM scheduler.job_runs x WHERE x.task = t.task AND x.status = 'running'
  ) AS running,
  (
    SELECT max(coalesce(r.schedule_time, r.started_at)) FROM scheduler.job_runs r
    WHERE r.task = t.task AND r.status = 'succeeded' AND NOT r.dry_run
  ) AS last_success_tick
FROM (SELECT DISTINCT task FROM scheduler.job_runs) t
CROSS JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE r.status IN ('succeeded', 'failed'))::integer AS runs_24h,
    count(*) FILTER (WHERE r.status = 'succeeded')::integer AS succeeded_24h,
    count(*) FILTER (WHERE r.status = 'failed')::integer AS failures_24h,
    count(*) FILTER (WHERE r.status = 'skipped')::integer AS skipped_24h,
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms) FILTER (WHERE r.status = 'succeeded'))::integer AS p50_ms,
    round(percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) FILTER (WHERE r.status = 'succeeded'))::integer AS p95_ms
  FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.started_at > now() - interval '24 hours'
) s
LEFT JOIN LATERAL (
  SELECT r.started_at, r.status FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.status NOT IN ('skipped', 'paused')
  ORDER BY r.started_at DESC LIMIT 1
) last_run ON true
LEFT JOIN LATERAL (
  SELECT r.started_at, r.schedule_time FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.status = 'succeeded'
  ORDER BY r.started_at DESC LIMIT 1
) last_success ON true
LEFT JOIN LATERAL (
  SELECT r.started_at, r.message FROM scheduler.job_runs r
  WHERE r.task = t.task AND NOT r.dry_run AND r.status = 'failed'
  ORDER BY r.started_at DESC LIMIT 1
) last_failure ON true;
