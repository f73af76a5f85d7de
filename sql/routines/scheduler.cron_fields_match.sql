-- Whether a local wall-clock time matches a schedule's fields, expanded by the pg_cron generator
-- with functions/core/schedule/cron-grammar.ts (the one grammar) into sets; NULL: any value. When
-- both day fields are restricted, a day matching either fires (cron's rule); otherwise both must
-- match. Days of the week 0-6, Sunday 0.
CREATE OR REPLACE FUNCTION scheduler.cron_fields_match(
  p_local timestamp,
  p_minutes integer[],
  p_hours integer[],
  p_days_of_month integer[],
  p_months integer[],
  p_days_of_week integer[]
) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (p_minutes IS NULL OR extract(minute FROM p_local)::integer = ANY (p_minutes))
    AND (p_hours IS NULL OR extract(hour FROM p_local)::integer = ANY (p_hours))
    AND (p_months IS NULL OR extract(month FROM p_local)::integer = ANY (p_months))
    AND CASE
      WHEN p_days_of_month IS NOT NULL AND p_days_of_week IS NOT NULL
        THEN extract(day FROM p_local)::integer = ANY (p_days_of_month)
          OR extract(dow FROM p_local)::integer = ANY (p_days_of_week)
      ELSE (p_days_of_month IS NULL OR extract(day FROM p_local)::integer = ANY (p_days_of_month))
        AND (p_days_of_week IS NULL OR extract(dow FROM p_local)::integer = ANY (p_days_of_week))
    END
$$;
