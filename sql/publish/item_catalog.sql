-- Every item sqlrec knows, with the catalogue attributes and popularity the rules and reasons use: the table to join
-- item ids to titles and categories in SQL and BI tools.
-- grain: one row per item (from the events or the items input)
-- unique: item_id
-- order_by: item_id
-- not_null: item_id
-- columns:
--   item_id: the item
--   title: its title (NULL without an items input or a title column)
--   category: its category (or NULL)
--   brand: its brand (or NULL)
--   price_tier: its price tier (or NULL)
--   in_stock: whether it can be sold (NULL = unknown)
--   is_new: launched within vars.fresh_days (14) of the newest event
--   users: distinct users who interacted with it
--   is_head: among the most popular vars.head_share (0.2) of items by users
SELECT item_id, title, category, brand, price_tier, in_stock, is_new, users, is_head
FROM {{ ref('int_item_attributes') }}
