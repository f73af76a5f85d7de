-- Every run's scheduler.start_run marks the task's runs still 'running' as interrupted (it holds the
-- lock, so none really is), and job_health asks whether one is running. Both read
-- `task = $1 AND status = 'running'`, which no index served: the planner scanned the whole history
-- (job_runs_task_started_idx holds every run of the task), about 5 ms at 40,000 runs, growing with
-- the retention. A run is 'running' only for its own duration, so this index stays a few rows.
CREATE INDEX job_runs_running_idx ON scheduler.job_runs (task) WHERE status = 'running';
