-- The batch sizing of functions/core/run/batch-sizing.ts (firstBatchSize, nextBatchSize), mirrored
-- for scheduler.run_pg_cron_batches; test/batch-sizing.test.ts checks both on the same table of
-- cases. NULL sizing (p_min_size NULL): a fixed size.
CREATE OR REPLACE FUNCTION scheduler.first_batch_size(p_size integer, p_min_size integer, p_max_size integer)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_min_size IS NULL THEN p_size ELSE least(p_max_size, greatest(p_min_size, p_size)) END
$$;
