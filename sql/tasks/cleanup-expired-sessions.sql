-- name: batch
-- Delete one batch ($1 rows at most) of expired sessions, oldest first; rows another transaction
-- holds are left for the next batch.
DELETE FROM user_sessions
WHERE id = ANY (ARRAY(
  SELECT id FROM user_sessions
  WHERE expires_at < now()
  ORDER BY expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));

-- name: count
-- How many rows the task would delete, counting at most $1 (NULL: all).
SELECT count(*) AS rows FROM (
  SELECT 1 FROM user_sessions WHERE expires_at < now() LIMIT $1
) AS due;
