-- name: batch
-- Delete one batch ($1 rows at most) of expired sessions, oldest first; rows another transaction
-- holds are left for the next batch.
DELETE FROM user_sessions
WHERE id = ANY (ARRAY(
  SELECT id
  -- due: begin
  FROM user_sessions
  WHERE expires_at < now()
  -- due: end
  ORDER BY expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));
