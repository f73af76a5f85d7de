-- name: batch
-- Deactivate one batch ($1 rows at most) of orders that reached a final state more than 90 days ago.
-- The seed compared delivered_at alone, so cancelled orders (no delivered_at) were never archived;
-- here each final state is dated by its own column: cancelled_at for cancelled orders, delivered_at
-- for delivered ones, and updated_at (the last change, so never too early) for refunds, which have
-- no date of their own. The expression is the one orders_archivable_idx is built on, so each batch
-- is an ordered index range read, and an archived row leaves that index.
UPDATE orders
SET is_active = false,
    updated_at = now()
WHERE id = ANY (ARRAY(
  SELECT id
  -- due: begin
  FROM orders
  WHERE is_active
    AND status IN ('delivered', 'cancelled', 'refunded')
    AND (CASE
      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)
      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)
      ELSE updated_at
    END) < now() - interval '90 days'
  -- due: end
  ORDER BY (CASE
      WHEN status = 'cancelled' THEN coalesce(cancelled_at, updated_at)
      WHEN status = 'delivered' THEN coalesce(delivered_at, updated_at)
      ELSE updated_at
    END)
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));
