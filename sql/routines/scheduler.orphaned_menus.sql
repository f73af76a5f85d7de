-- cleanup-orphaned-menus: the ids of the menus created before p_created_before that no
-- restaurant_menus row links to. Both sides are read in id order (menus_pkey,
-- restaurant_menus_menu_id_idx, index-only) and merged, which `npm run bench` measured faster than
-- the plan the planner picks for the same query (a hash of all of restaurant_menus, which its cost
-- model prices lower). Hence enable_hashjoin is off for this function's query only.
-- NOT EXISTS, not NOT IN: one NULL menu_id would make NOT IN false for every menu.
CREATE OR REPLACE FUNCTION scheduler.orphaned_menus(p_created_before timestamptz) RETURNS bigint[]
LANGUAGE sql STABLE
SET enable_hashjoin = off
AS $$
  SELECT coalesce(array_agg(m.id), '{}') FROM menus m
  WHERE m.created_at < p_created_before
    AND NOT EXISTS (SELECT 1 FROM restaurant_menus rm WHERE rm.menu_id = m.id)
$$;
