-- name: batch
-- Delete one batch ($1 rows at most) of distance API requests older than 90 days, oldest first.
DELETE FROM distance_requests
WHERE id = ANY (ARRAY(
  SELECT id FROM distance_requests
  WHERE created_at < now() - interval '90 days'
  ORDER BY created_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));

-- name: count
-- How many rows the task would delete, counting at most $1 (NULL: all).
SELECT count(*) AS rows FROM (
  SELECT 1 FROM distance_requests WHERE created_at < now() - interval '90 days' LIMIT $1
) AS due;
