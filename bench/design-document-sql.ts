/**
 * The design document's own statements for each task (its pg_cron version), verbatim apart from
 * the column names our schema uses, to run beside ours on the same data. Where the document left a
 * task as a commented placeholder, the statement its comment sketches is completed as little as
 * possible and said so.
 */

/** Its every-minute version, with the system_settings lookup ("Common Scheduled Tasks", 1). */
export const autoCancel = `
UPDATE orders
SET
    status = 'cancelled'::order_status,
    cancelled_at = CURRENT_TIMESTAMP,
    cancellation_reason = 'Auto-cancelled: vendor did not confirm within 30 minutes',
    updated_at = CURRENT_TIMESTAMP
WHERE
    status = 'pending'::order_status
    AND placed_at IS NOT NULL
    AND placed_at < (CURRENT_TIMESTAMP - (
        SELECT setting_value::INTEGER
        FROM system_settings
        WHERE setting_key = 'order_auto_cancel_minutes'
    ) * INTERVAL '1 minute')
    AND is_active = true`;

export const driverInactivity = `
UPDATE drivers
SET is_available = false
WHERE
    is_available = true
    AND updated_at < CURRENT_TIMESTAMP - INTERVAL '30 minutes'`;

export const orphanedMenus = `
DELETE FROM menus
WHERE id NOT IN (
    SELECT DISTINCT menu_id FROM restaurant_menus
)
AND created_at < (CURRENT_TIMESTAMP - INTERVAL '30 days')`;

export const archiveOldOrders = `
UPDATE orders
SET is_active = false
WHERE
    status IN ('delivered'::order_status, 'cancelled'::order_status, 'refunded'::order_status)
    AND delivered_at < (CURRENT_TIMESTAMP - INTERVAL '90 days')
    AND is_active = true`;

/** "Common Scheduled Tasks", 3 (the pg_cron block has it commented out as a placeholder). */
export const restaurantRatings = `
UPDATE restaurants
SET rating = (
    SELECT COALESCE(AVG(rating), 0.00)
    FROM reviews
    WHERE restaurant_id = restaurants.id
)
WHERE id IN (
    SELECT DISTINCT restaurant_id
    FROM reviews
    WHERE created_at > CURRENT_TIMESTAMP - INTERVAL '1 day'
)`;

/**
 * The document's placeholder comment ("INSERT INTO daily_order_stats (date, total_orders,
 * total_revenue, ...) SELECT CURRENT_DATE, COUNT(*), SUM(total_amount), ... FROM orders WHERE
 * DATE(created_at) = CURRENT_DATE"), completed with our column names and the cancelled count.
 */
export const dailyStats = `
INSERT INTO daily_order_stats (stats_date, total_orders, cancelled_orders, total_revenue)
SELECT CURRENT_DATE, COUNT(*), COUNT(*) FILTER (WHERE status = 'cancelled'), COALESCE(SUM(total_amount), 0)
FROM orders WHERE DATE(created_at) = CURRENT_DATE`;

/** The indexes our migration adds for each task (the design document defines none). */
export const taskIndexes = {
  "auto-cancel-unconfirmed-orders": ["orders_pending_placed_at_idx"],
  "driver-inactivity-check": ["drivers_available_updated_at_idx"],
  "update-restaurant-ratings": ["reviews_restaurant_id_idx", "reviews_created_at_idx"],
  "cleanup-orphaned-menus": ["restaurant_menus_menu_id_idx", "menus_created_at_idx"],
  "archive-old-orders": ["orders_archivable_idx"],
  "generate-daily-stats": ["orders_created_at_idx"],
} as const;

/** In a transaction: drops the task's indexes (rolled back with it), to time a statement as it would run without them. */
export function withoutIndexes(names: readonly string[]): string {
  return names.map((name) => `DROP INDEX ${name}`).join(";");
}
