-- Which stack the pg_cron setup loaded into this database was rendered for, and the schedule of
-- each job it gave pg_cron: one row, written by sql/pg_cron_setup.sql (or the hybrid, or a setup
-- rendered with --stack) as it loads. /health, the dashboard and the CLI's jobs and health read it
-- and warn when the stack they judge the history by schedules a pg_cron task otherwise.
CREATE TABLE scheduler.pg_cron_setup (
  -- One row: the setup loaded last replaces the one before (each unschedules what it does not schedule).
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  -- The stack it was rendered for ("dev" for Pulumi.dev.yaml), and that file; null for jobs that
  -- were not read from a stack's config file.
  stack text,
  stack_file text,
  -- The setup's file, and which tasks it schedules: every SQL task, or those whose runner is pg_cron.
  setup_file text NOT NULL,
  scope text NOT NULL CHECK (scope IN ('all-sql', 'pg_cron-runner')),
  -- [{"task", "schedule", "timeZone", "paused"}]: each task's schedule as the stack resolved it
  -- (pg_cron's own entry is UTC; a task in another zone is checked by its job against this one).
  jobs jsonb NOT NULL,
  loaded_at timestamptz NOT NULL DEFAULT now(),
  loaded_by text NOT NULL DEFAULT current_user
);
