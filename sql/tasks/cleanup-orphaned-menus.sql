-- Delete menus older than 30 days that no restaurant uses.
-- The orphans are found by scheduler.orphaned_menus (sql/routines/), which merges two index
-- scans in id order instead of hashing every link, and uses NOT EXISTS, not the seed's NOT IN: one
-- NULL restaurant_menus.menu_id makes "id NOT IN (SELECT menu_id ...)" NULL for every menu, and the
-- seed's version deleted nothing. The subquery keeps the planner from running the function while it
-- plans (a constant array would be estimated by evaluating it, doubling the work).
DELETE FROM menus
WHERE id = ANY ((SELECT scheduler.orphaned_menus(now() - interval '30 days'))::bigint[])
  AND created_at < now() - interval '30 days';
