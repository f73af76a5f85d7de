-- Where the app keeps a customer's address for an order. The outbox drain resolves it at send
-- time, not the trigger, so a mismatch with the app's own tables can never make an order update
-- fail. An app that keeps the address elsewhere (for example in its users table) replaces this
-- body here, in this file: a body replaced by hand in the database is put back by the next
-- `npm run migrate` that applies this file.
CREATE OR REPLACE FUNCTION scheduler.order_confirmation_recipient(p_order_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT nullif(btrim(o.customer_email), '') FROM orders o WHERE o.id = p_order_id);
END
$$;
