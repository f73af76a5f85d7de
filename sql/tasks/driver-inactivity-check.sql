-- Drivers who sent no location update for 30 minutes stop being offered orders.
-- updated_at is left alone: it means "last location update", and this is not one.
UPDATE drivers
SET is_available = false
WHERE is_available
  AND updated_at < now() - interval '30 minutes';
