-- Recompute the rating of each restaurant reviewed in the last two days from all its reviews.
-- Two days, not the seed's one, so that a late or failed daily run loses no restaurant; the result
-- is the same however often it runs. One grouped pass over the reviews of those restaurants (index
-- reviews_restaurant_id_idx) instead of the seed's correlated AVG per restaurant, and only ratings
-- that change are written.
UPDATE restaurants
SET rating = fresh.rating,
    updated_at = now()
FROM (
  SELECT r.restaurant_id, round(avg(r.rating), 2) AS rating
  FROM reviews r
  WHERE r.restaurant_id IN (
    SELECT DISTINCT recent.restaurant_id FROM reviews recent
    WHERE recent.created_at > now() - interval '2 days'
  )
  GROUP BY r.restaurant_id
) AS fresh
WHERE restaurants.id = fresh.restaurant_id
  AND restaurants.rating IS DISTINCT FROM fresh.rating;
