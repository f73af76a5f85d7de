-- What operators did from the dashboard (pause, resume, run now, replay a failed tick): who (the
-- email of their ID token), when, to which task, what they asked and what came of it. The pause
-- itself stays in scheduler.task_pauses and a run in scheduler.job_runs; this is the record of the
-- request (a replay the plan left alone included), so "who did that?" has one answer.
CREATE TABLE scheduler.operator_actions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  operator text NOT NULL,
  action text NOT NULL CHECK (action IN ('pause', 'resume', 'run', 'replay')),
  task text NOT NULL,
  -- What was asked: a pause's reason and until, a run's dry run, a replay's tick.
  request jsonb NOT NULL DEFAULT '{}',
  -- The run it made, when it made one.
  run_id bigint,
  -- What came of it, in words ("paused until ...", "succeeded, 3 rows", "refused: ...").
  outcome text NOT NULL
);

CREATE INDEX operator_actions_task_idx ON scheduler.operator_actions (task, at DESC);

-- A run says what started it: an operator's replay of a failed tick (the dashboard's, the CLI's)
-- and a backfill's run of a missed tick are not the scheduler's ticks, though each holds its tick.
ALTER TABLE scheduler.job_runs DROP CONSTRAINT job_runs_trigger_check;
ALTER TABLE scheduler.job_runs
  ADD CONSTRAINT job_runs_trigger_check
  CHECK (trigger IN ('scheduler', 'manual', 'cli', 'http', 'pg_cron', 'replay', 'backfill'));
