-- The next batch's size after one that changed p_rows rows in p_ms: nextBatchSize of
-- functions/core/run/batch-sizing.ts, mirrored (see first_batch_size). NULL sizing (p_target_ms
-- NULL): a fixed size.
CREATE OR REPLACE FUNCTION scheduler.next_batch_size(
  p_size integer,
  p_rows bigint,
  p_ms double precision,
  p_target_ms integer,
  p_min_size integer,
  p_max_size integer
) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_target_ms IS NULL THEN p_size
    ELSE least(p_max_size, greatest(p_min_size,
      least(floor(p_rows * p_target_ms / greatest(p_ms, 1))::bigint, 2 * p_size::bigint)))::integer
  END
$$;
