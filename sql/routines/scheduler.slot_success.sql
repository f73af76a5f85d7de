-- The run that already succeeded in the task's slot (its schedule time), if one did. The second
-- comparison is the first one again for a run that has a schedule time; it is there for the plan.
-- A server caches a generic plan for a routine's query after five runs; made while
-- scheduler.job_runs was nearly empty (a new deployment, or before autovacuum first analyzes it),
-- a plan on the task alone read every success of the task on every tick, until the next ANALYZE.
-- Naming both columns, whichever of job_runs_one_success_per_slot (task, schedule_time) and
-- job_runs_success_tick_idx (task, coalesce(schedule_time, started_at)) a cached plan picks, it
-- searches by the task and the time.
CREATE OR REPLACE FUNCTION scheduler.slot_success(p_task text, p_schedule_time timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT r.id FROM scheduler.job_runs r
    WHERE r.task = p_task AND r.schedule_time = p_schedule_time
      AND coalesce(r.schedule_time, r.started_at) = p_schedule_time
      AND r.status = 'succeeded' AND NOT r.dry_run
  );
END
$$;
