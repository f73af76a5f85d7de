-- Delete menus older than 30 days that no restaurant uses.
-- NOT EXISTS, not the seed's NOT IN: one NULL restaurant_menus.menu_id makes
-- "id NOT IN (SELECT menu_id ...)" NULL for every menu, and the seed's version deleted nothing.
DELETE FROM menus
WHERE created_at < now() - interval '30 days'
  AND NOT EXISTS (
    SELECT 1 FROM restaurant_menus rm WHERE rm.menu_id = menus.id
  );
