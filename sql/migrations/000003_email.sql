-- The email tasks' state: what each vendor report run sent, the order-confirmation outbox (filled
-- by a trigger on orders, drained by send-order-confirmations), which failed runs ops has been told
-- about, and a local mailbox for runs without a SendGrid key.
--
-- Delivery guarantee (SendGrid's mail/send has no idempotency key, so "exactly once" cannot be
-- promised across the network): every message is recorded as 'sending' under a lease, committed,
-- BEFORE the API call, and as 'sent' with SendGrid's X-Message-Id right after the 202. A duplicate
-- or concurrent run, a retry, or a rerun after a failure therefore never sends a recorded message
-- again. The one window left is an API call whose answer never arrives (a timeout, or the instance
-- dying between SendGrid's 202 and our UPDATE): the message is resent once its lease expires, so
-- that window is at-least-once, and each personalization carries custom_args.email_key (one per
-- logical message) so a duplicate is recognisable in SendGrid's event webhook and activity feed.

-- One row per restaurant and report date: the unique key is what makes a rerun send only what is missing.
CREATE TABLE scheduler.vendor_report_deliveries (
  restaurant_id bigint NOT NULL,
  report_date date NOT NULL,
  email text NOT NULL,
  status text NOT NULL CHECK (status IN ('sending', 'sent', 'rejected', 'pending')),
  attempts integer NOT NULL DEFAULT 0,
  run_id bigint,
  lease_until timestamptz,
  message_id text,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  PRIMARY KEY (restaurant_id, report_date)
);

CREATE TABLE scheduler.email_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL,
  order_id bigint,
  recipient text,
  payload jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  run_id bigint,
  last_error text,
  message_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  -- One confirmation per order, however often the order passes through 'confirmed'.
  UNIQUE (kind, order_id)
);

-- The drain reads only due rows, in id order.
CREATE INDEX email_outbox_due_idx ON scheduler.email_outbox (kind, id) WHERE status IN ('pending', 'sending');

-- Which failed runs have been reported to ops (each once), and what each alert said.
ALTER TABLE scheduler.job_runs ADD COLUMN alerted_at timestamptz;
CREATE INDEX job_runs_unalerted_failures_idx ON scheduler.job_runs (id)
  WHERE status = 'failed' AND alerted_at IS NULL AND NOT dry_run;

CREATE TABLE scheduler.ops_alerts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id bigint,
  recipient text NOT NULL,
  failed_run_ids bigint[] NOT NULL,
  overdue_tasks text[] NOT NULL,
  message_id text,
  sent_at timestamptz NOT NULL DEFAULT now()
);

-- Messages a run without a SendGrid key would have sent (local development, demos): nothing leaves
-- the machine, and a dashboard can show them.
CREATE TABLE scheduler.local_mailbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id text NOT NULL,
  recipient text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  custom_args jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Where the app keeps a customer's address for an order. The drain resolves it at send time, not the
-- trigger, so a mismatch with the app's own tables can never make an order update fail: replace this
-- function's body with the app's lookup (for example a join to its users table).
CREATE FUNCTION scheduler.order_confirmation_recipient(p_order_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT nullif(btrim(o.customer_email), '') FROM orders o WHERE o.id = p_order_id);
END
$$;

-- "Triggers set flags, the function polls": an order that becomes confirmed gets one outbox row.
-- Kept to a single insert that cannot conflict, so it adds next to nothing to the app's UPDATE.
CREATE FUNCTION scheduler.enqueue_order_confirmation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO scheduler.email_outbox (kind, order_id, payload)
  VALUES (
    'order-confirmation',
    NEW.id,
    jsonb_build_object('orderId', NEW.id, 'restaurantId', NEW.restaurant_id, 'totalAmount', NEW.total_amount)
  )
  ON CONFLICT (kind, order_id) DO NOTHING;
  RETURN NULL;
END
$$;

CREATE TRIGGER orders_enqueue_confirmation_on_update
  AFTER UPDATE OF status ON orders
  FOR EACH ROW
  WHEN (NEW.status = 'confirmed' AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION scheduler.enqueue_order_confirmation();

CREATE TRIGGER orders_enqueue_confirmation_on_insert
  AFTER INSERT ON orders
  FOR EACH ROW
  WHEN (NEW.status = 'confirmed')
  EXECUTE FUNCTION scheduler.enqueue_order_confirmation();

-- Claims up to p_limit restaurants whose report for p_report_date is not sent yet, and returns each
-- with its figures for that day (in the session's time zone, the task's). A restaurant is due when it
-- has an email and no delivery row, a released one ('pending'), or one whose lease expired (a run cut
-- off mid-send: see the guarantee above). The claim commits before anything is sent.
CREATE FUNCTION scheduler.claim_vendor_reports(
  p_report_date date,
  p_limit integer,
  p_run_id bigint,
  p_lease_seconds integer
) RETURNS TABLE (
  restaurant_id bigint,
  name text,
  email text,
  orders bigint,
  delivered bigint,
  cancelled bigint,
  revenue numeric
)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  WITH due AS (
    SELECT r.id, r.name, btrim(r.email) AS email
    FROM restaurants r
    LEFT JOIN scheduler.vendor_report_deliveries d
      ON d.restaurant_id = r.id AND d.report_date = p_report_date
    WHERE nullif(btrim(r.email), '') IS NOT NULL
      AND (d.restaurant_id IS NULL OR d.status = 'pending' OR (d.status = 'sending' AND d.lease_until < now()))
    ORDER BY r.id
    LIMIT p_limit
  ),
  claimed AS (
    INSERT INTO scheduler.vendor_report_deliveries AS v
      (restaurant_id, report_date, email, status, attempts, run_id, lease_until)
    SELECT due.id, p_report_date, due.email, 'sending', 1, p_run_id,
           now() + make_interval(secs => p_lease_seconds)
    FROM due
    ON CONFLICT ON CONSTRAINT vendor_report_deliveries_pkey DO UPDATE
      SET status = 'sending', attempts = v.attempts + 1, run_id = excluded.run_id,
          lease_until = excluded.lease_until, email = excluded.email
      WHERE v.status = 'pending' OR (v.status = 'sending' AND v.lease_until < now())
    RETURNING v.restaurant_id
  ),
  figures AS (
    SELECT o.restaurant_id,
           count(*) AS orders,
           count(*) FILTER (WHERE o.status = 'delivered') AS delivered,
           count(*) FILTER (WHERE o.status = 'cancelled') AS cancelled,
           coalesce(sum(o.total_amount) FILTER (WHERE o.status = 'delivered'), 0) AS revenue
    FROM orders o
    WHERE o.created_at >= p_report_date::timestamptz
      AND o.created_at < (p_report_date + 1)::timestamptz
      AND o.restaurant_id IN (SELECT c.restaurant_id FROM claimed c)
    GROUP BY o.restaurant_id
  )
  SELECT due.id, due.name, due.email,
         coalesce(f.orders, 0), coalesce(f.delivered, 0), coalesce(f.cancelled, 0), coalesce(f.revenue, 0)
  FROM due
  JOIN claimed c ON c.restaurant_id = due.id
  LEFT JOIN figures f ON f.restaurant_id = due.id
  ORDER BY due.id;
END
$$;

-- How many reports of p_report_date are still to send (dry runs).
CREATE FUNCTION scheduler.count_due_vendor_reports(p_report_date date) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT count(*)
  FROM restaurants r
  LEFT JOIN scheduler.vendor_report_deliveries d
    ON d.restaurant_id = r.id AND d.report_date = p_report_date
  WHERE nullif(btrim(r.email), '') IS NOT NULL
    AND (d.restaurant_id IS NULL OR d.status = 'pending' OR (d.status = 'sending' AND d.lease_until < now()))
$$;

-- Claims up to p_limit due outbox rows of one kind. SKIP LOCKED lets two drains that overlap take
-- disjoint rows; the committed 'sending' state and its lease keep a later drain off them. A row whose
-- lease expired with no attempt left is parked as dead: whether it went out is unknown, and a human
-- should look rather than the drain send it a (p_max_attempts + 1)th time.
CREATE FUNCTION scheduler.claim_email_outbox(
  p_kind text,
  p_limit integer,
  p_run_id bigint,
  p_lease_seconds integer,
  p_max_attempts integer
) RETURNS TABLE (
  id bigint,
  order_id bigint,
  recipient text,
  payload jsonb,
  attempts integer,
  restaurant_name text
)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE scheduler.email_outbox o
  SET status = 'dead',
      last_error = coalesce(o.last_error || '; ', '') || 'lease expired after the last attempt; delivery unknown',
      lease_until = NULL
  WHERE o.kind = p_kind AND o.status = 'sending' AND o.lease_until < now() AND o.attempts >= p_max_attempts;

  RETURN QUERY
  WITH due AS (
    SELECT o.id FROM scheduler.email_outbox o
    WHERE o.kind = p_kind
      AND ((o.status = 'pending' AND o.next_attempt_at <= now())
           OR (o.status = 'sending' AND o.lease_until < now()))
    ORDER BY o.id
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  ),
  claimed AS (
    UPDATE scheduler.email_outbox o
    SET status = 'sending',
        attempts = o.attempts + 1,
        run_id = p_run_id,
        lease_until = now() + make_interval(secs => p_lease_seconds),
        recipient = coalesce(o.recipient, scheduler.order_confirmation_recipient(o.order_id))
    FROM due
    WHERE o.id = due.id
    RETURNING o.id, o.order_id, o.recipient, o.payload, o.attempts
  )
  SELECT c.id, c.order_id, c.recipient, c.payload, c.attempts, r.name
  FROM claimed c
  LEFT JOIN orders ord ON ord.id = c.order_id
  LEFT JOIN restaurants r ON r.id = ord.restaurant_id
  ORDER BY c.id;
END
$$;
