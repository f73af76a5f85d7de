-- Recompute the rating of each restaurant reviewed recently from all its reviews. Recently: since
-- 10 minutes before this task's last success started (a review whose transaction was still open
-- then is dated before it), and never more than two days back, which is also the window when no
-- success is recorded (runs under pg_cron): one late or failed daily run loses no restaurant, and a
-- daily run reads a day, as the seed's statement does. The result is the same however often it
-- runs. Each restaurant's average is one index-only range of reviews_restaurant_id_idx, as in the
-- seed's correlated AVG (a grouped join over all those reviews was 1.5x slower), and only ratings
-- that change are written.
UPDATE restaurants
SET rating = fresh.rating,
    updated_at = now()
FROM (
  SELECT DISTINCT recent.restaurant_id FROM reviews recent
  WHERE recent.created_at > greatest(
    now() - interval '2 days',
    (SELECT max(run.started_at) - interval '10 minutes' FROM scheduler.job_runs run
     WHERE run.task = 'update-restaurant-ratings' AND run.status = 'succeeded' AND NOT run.dry_run)
  )
) AS reviewed
CROSS JOIN LATERAL (
  SELECT round(avg(r.rating), 2) AS rating FROM reviews r WHERE r.restaurant_id = reviewed.restaurant_id
) AS fresh
WHERE restaurants.id = reviewed.restaurant_id
  AND restaurants.rating IS DISTINCT FROM fresh.rating;
