-- What the run claimed and did not send goes back to pending, due after a delay that doubles with
-- each attempt (p_backoff_seconds, capped at p_max_backoff_seconds), or dead after p_max_attempts.
CREATE OR REPLACE FUNCTION scheduler.release_email_outbox(
  p_kind text,
  p_run_id bigint,
  p_error text,
  p_max_attempts integer,
  p_backoff_seconds integer,
  p_max_backoff_seconds integer
) RETURNS TABLE (released integer, dead integer)
LANGUAGE sql AS $$
  WITH released AS (
    UPDATE scheduler.email_outbox
    SET status = CASE WHEN attempts >= p_max_attempts THEN 'dead' ELSE 'pending' END,
        next_attempt_at = now() + make_interval(
          secs => least(p_max_backoff_seconds::double precision,
                        p_backoff_seconds * power(2, least(attempts - 1, 30)))),
        lease_until = NULL,
        last_error = p_error
    WHERE run_id = p_run_id AND kind = p_kind AND status = 'sending'
    RETURNING status)
  SELECT count(*) FILTER (WHERE status = 'pending')::integer, count(*) FILTER (WHERE status = 'dead')::integer
  FROM released
$$;
