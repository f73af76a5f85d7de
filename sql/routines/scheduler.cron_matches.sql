-- Whether a tick (an instant) is a fire time of the schedule read in p_time_zone. Around DST
-- changes it follows croner, whose fire times /health's overdue rule reads
-- (functions/core/schedule/fire-times.ts), so that a pg_cron task is neither run nor expected
-- differently:
-- - a schedule with one hour (`30 2 * * *`) fires once a day: a time the spring change skips fires
--   at the first instant after the gap (03:00 for 02:30 in Europe/Berlin), and a time the autumn
--   change repeats fires at its first occurrence only;
-- - a schedule with several hours (`*/30 * * * *`, `30 1-3 * * *`) fires at every instant whose
--   wall-clock time matches: a skipped time does not fire, a repeated one fires at each occurrence.
-- Offset changes are looked for within the last day (every zone changes at most twice a year).
CREATE OR REPLACE FUNCTION scheduler.cron_matches(
  p_at timestamptz,
  p_time_zone text,
  p_minutes integer[],
  p_hours integer[],
  p_days_of_month integer[],
  p_months integer[],
  p_days_of_week integer[]
) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_local timestamp := p_at AT TIME ZONE p_time_zone;
  v_one_hour boolean := coalesce(cardinality(p_hours) = 1, false);
  v_before timestamp;
  -- How much further ahead of UTC the zone was a day ago: > 0 after a fall-back.
  v_back interval;
BEGIN
  IF scheduler.cron_fields_match(v_local, p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week) THEN
    IF NOT v_one_hour THEN
      RETURN true;
    END IF;
    v_back := ((p_at - interval '1 day') AT TIME ZONE p_time_zone - (p_at - interval '1 day') AT TIME ZONE 'UTC')
      - (v_local - p_at AT TIME ZONE 'UTC');
    -- Not the second occurrence of a repeated wall-clock time (the same time v_back earlier).
    RETURN NOT (v_back > interval '0' AND (p_at - v_back) AT TIME ZONE p_time_zone = v_local);
  END IF;
  IF NOT v_one_hour THEN
    RETURN false;
  END IF;
  -- The first instant after a gap fires the times the gap skipped.
  v_before := (p_at - interval '1 minute') AT TIME ZONE p_time_zone;
  RETURN v_local - v_before > interval '1 minute' AND EXISTS (
    SELECT 1 FROM generate_series(v_before + interval '1 minute', v_local - interval '1 minute', interval '1 minute') AS g (t)
    WHERE scheduler.cron_fields_match(g.t, p_minutes, p_hours, p_days_of_month, p_months, p_days_of_week)
  );
END
$$;
