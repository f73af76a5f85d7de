-- A little demo data for `npm start`, loaded once into an empty local database, so that the jobs
-- have something to do in the first minutes: the pending order placed 45 minutes ago is stale, so
-- auto-cancel-unconfirmed-orders cancels it at the next minute; the driver silent for 45 minutes goes
-- unavailable at the next driver-inactivity-check; expired sessions go at the next hour; the
-- restaurants with an email get their daily report at 07:00 (into the local mailbox, with no key).

INSERT INTO system_settings (setting_key, setting_value) VALUES ('order_auto_cancel_minutes', '30')
ON CONFLICT (setting_key) DO NOTHING;

INSERT INTO restaurants (name, email, rating) VALUES
  ('Pizzeria Napoli', 'orders@napoli.example', 0),
  ('Sushi Kaze', 'kitchen@kaze.example', 0),
  ('Taqueria Sol', 'hola@sol.example', 0);

-- The confirmed order queues a confirmation email (the trigger on orders), which
-- send-order-confirmations writes to the local mailbox at the next minute.
INSERT INTO orders (restaurant_id, status, total_amount, placed_at, created_at, customer_email) VALUES
  -- Stale: the vendor never confirmed it.
  ((SELECT id FROM restaurants WHERE name = 'Pizzeria Napoli'), 'pending', 24.50, now() - interval '45 minutes', now() - interval '45 minutes', 'marta@customer.example'),
  -- Fresh: still within the confirmation window.
  ((SELECT id FROM restaurants WHERE name = 'Sushi Kaze'), 'pending', 38.00, now() - interval '5 minutes', now() - interval '5 minutes', 'kenji@customer.example'),
  ((SELECT id FROM restaurants WHERE name = 'Taqueria Sol'), 'confirmed', 17.25, now() - interval '12 minutes', now() - interval '12 minutes', 'lucia@customer.example');

INSERT INTO orders (restaurant_id, status, total_amount, placed_at, delivered_at, created_at, updated_at) VALUES
  ((SELECT id FROM restaurants WHERE name = 'Pizzeria Napoli'), 'delivered', 31.90, now() - interval '1 day 1 hour', now() - interval '1 day', now() - interval '1 day 1 hour', now() - interval '1 day'),
  ((SELECT id FROM restaurants WHERE name = 'Sushi Kaze'), 'delivered', 52.10, now() - interval '1 day 2 hours', now() - interval '1 day 1 hour', now() - interval '1 day 2 hours', now() - interval '1 day 1 hour'),
  -- Final for more than 90 days: archive-old-orders deactivates them on Sunday.
  ((SELECT id FROM restaurants WHERE name = 'Taqueria Sol'), 'delivered', 12.00, now() - interval '120 days', now() - interval '120 days', now() - interval '120 days', now() - interval '120 days'),
  ((SELECT id FROM restaurants WHERE name = 'Pizzeria Napoli'), 'delivered', 27.40, now() - interval '100 days', now() - interval '100 days', now() - interval '100 days', now() - interval '100 days');

INSERT INTO orders (restaurant_id, status, total_amount, placed_at, cancelled_at, cancellation_reason, created_at, updated_at) VALUES
  ((SELECT id FROM restaurants WHERE name = 'Sushi Kaze'), 'cancelled', 22.00, now() - interval '1 day 3 hours', now() - interval '1 day 2 hours', 'customer request', now() - interval '1 day 3 hours', now() - interval '1 day 2 hours');

INSERT INTO reviews (restaurant_id, rating, created_at) VALUES
  ((SELECT id FROM restaurants WHERE name = 'Pizzeria Napoli'), 5, now() - interval '3 hours'),
  ((SELECT id FROM restaurants WHERE name = 'Pizzeria Napoli'), 4, now() - interval '20 hours'),
  ((SELECT id FROM restaurants WHERE name = 'Sushi Kaze'), 3, now() - interval '1 hour'),
  ((SELECT id FROM restaurants WHERE name = 'Taqueria Sol'), 5, now() - interval '30 minutes');

INSERT INTO drivers (name, is_available, updated_at) VALUES
  ('Ada', true, now() - interval '45 minutes'),
  ('Grace', true, now() - interval '2 minutes'),
  ('Linus', false, now() - interval '3 hours');

INSERT INTO user_sessions (user_id, expires_at) VALUES
  (101, now() - interval '2 hours'),
  (102, now() - interval '10 minutes'),
  (103, now() + interval '6 hours');

INSERT INTO distance_requests (origin, destination, created_at) VALUES
  ('52.52,13.40', '52.50,13.42', now() - interval '120 days'),
  ('52.51,13.39', '52.53,13.41', now() - interval '2 days');

-- A menu no restaurant uses, created long ago: cleanup-orphaned-menus deletes it at 02:00.
INSERT INTO menus (name, created_at) VALUES ('Summer 2025 specials', now() - interval '60 days');
INSERT INTO menus (name, created_at) VALUES ('Lunch', now() - interval '60 days');
INSERT INTO restaurant_menus (restaurant_id, menu_id)
VALUES ((SELECT id FROM restaurants WHERE name = 'Pizzeria Napoli'), (SELECT id FROM menus WHERE name = 'Lunch'));
