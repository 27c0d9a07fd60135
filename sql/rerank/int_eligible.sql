-- The candidates that pass the business rules (macros/rules.sql): deny and allow lists of items, brands and
-- categories, in stock only, margin floor, never an item the user already purchased except in repurchase
-- categories, and a price tier at most vars.max_tier_distance from the user's typical tier. Each candidate comes with
-- the attributes the re-rankers use.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: an eligible candidate
--   tier: its cascade tier (int_candidates)
--   source: where it came from
--   score: its score within the tier
--   category: its category
--   brand: its brand
--   users: users who interacted with it (popularity)
--   is_new: launched within vars.fresh_days
--   is_head: in the popular head
--   segment: the user's segment
SELECT c.user_id, c.item_id, c.tier, c.source, c.score, a.category, a.brand, a.users, a.is_new, a.is_head, p.segment
FROM {{ ref('int_candidates') }} AS c
JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = c.item_id
JOIN {{ ref('int_user_profile') }} AS p ON p.user_id = c.user_id
WHERE {{ item_rules(var, 'a') }}
  AND {{ user_item_rules(var, ref, 'c', 'a', 'p') }}
