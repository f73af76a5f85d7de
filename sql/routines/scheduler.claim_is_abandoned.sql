-- A claim belongs to its run while that run is running and its lease lasts. A run that crashed
-- (instance stopped, connection lost) leaves its claims 'sending'. The next run of the task takes
-- them over at once instead of after the lease: it holds the task's lock, so no other run of the
-- task is running, and start_run has marked the crashed run interrupted. A retry of the tick that
-- crashed therefore resumes that tick's work (a lease alone would make the retry find nothing,
-- succeed, and take the tick's slot with the day's reports unsent). What the crashed run handed
-- to SendGrid without recording it is sent again: the at-least-once window of docs/email.md,
-- marked by custom_args.email_key.
CREATE OR REPLACE FUNCTION scheduler.claim_is_abandoned(p_lease_until timestamptz, p_run_id bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_lease_until < now()
      OR NOT EXISTS (SELECT 1 FROM scheduler.job_runs r WHERE r.id = p_run_id AND r.status = 'running')
$$;
