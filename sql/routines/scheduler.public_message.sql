-- A failed run's message as the function's runner stores it (publicMessage,
-- functions/core/errors.ts): one line, at most 500 characters.
CREATE OR REPLACE FUNCTION scheduler.public_message(p_message text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN length(m) > 500 THEN left(m, 497) || '...' ELSE m END
  FROM (SELECT coalesce(nullif(btrim(regexp_replace(p_message, '\s+', ' ', 'g')), ''), 'unknown error') AS m) s
$$;
