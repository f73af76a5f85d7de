/**
 * Rows that every task would change if it ran, so that a run slipping through (a hostile request
 * the function should have refused) shows up in the database's fingerprint.
 */
import type pg from "pg";

export async function giveEveryTaskWork(pool: pg.Pool): Promise<void> {
  await pool.query(`
    INSERT INTO restaurants (name, rating) VALUES ('Pizza Uno', 0);
    INSERT INTO reviews (restaurant_id, rating, created_at)
      SELECT id, 4, now() - interval '1 hour' FROM restaurants;
    INSERT INTO orders (restaurant_id, status, placed_at)
      SELECT id, 'pending', now() - interval '2 hours' FROM restaurants;
    INSERT INTO orders (restaurant_id, status, placed_at, delivered_at, updated_at)
      SELECT id, 'delivered', now() - interval '120 days', now() - interval '100 days', now() - interval '100 days'
      FROM restaurants;
    INSERT INTO orders (status, placed_at, created_at)
      VALUES ('delivered', now() - interval '1 day 1 hour', now() - interval '1 day 1 hour');
    INSERT INTO drivers (is_available, updated_at) VALUES (true, now() - interval '1 hour');
    INSERT INTO user_sessions (expires_at) VALUES (now() - interval '1 day');
    INSERT INTO distance_requests (created_at) VALUES (now() - interval '100 days');
    INSERT INTO menus (created_at) VALUES (now() - interval '40 days');
    INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at)
      VALUES ('generate-daily-stats', 'scheduler', 'succeeded', now() - interval '40 days', now() - interval '40 days');
  `);
}
