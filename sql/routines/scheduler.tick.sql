-- The tick of the run this session is running (set by start_run, cleared by finish_run): the
-- schedule time of a tick (a retry or a backfill of a past tick does that tick's work), the arrival
-- of a manual run; the statement's own clock when there is none (pg_cron, a hand-run statement).
-- A task whose work depends on its tick ("yesterday" of generate-daily-stats and of the vendor
-- reports) reads it here.
CREATE OR REPLACE FUNCTION scheduler.tick() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    to_timestamp(nullif(current_setting('scheduler.tick', true), '')::double precision),
    now())
$$;
