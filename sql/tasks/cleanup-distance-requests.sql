-- name: batch
-- Delete one batch ($1 rows at most) of distance API requests older than 90 days, oldest first.
DELETE FROM distance_requests
WHERE id = ANY (ARRAY(
  SELECT id
  -- due: begin
  FROM distance_requests
  WHERE created_at < now() - interval '90 days'
  -- due: end
  ORDER BY created_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));
