-- The trigger function behind orders_enqueue_confirmation_on_update and _on_insert: "triggers set
-- flags, the function polls". An order that becomes confirmed gets one outbox row, by a single
-- insert that cannot conflict, so it adds next to nothing to the app's UPDATE.
CREATE OR REPLACE FUNCTION scheduler.enqueue_order_confirmation() RETURNS trigger
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
