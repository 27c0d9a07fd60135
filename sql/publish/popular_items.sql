-- The most popular items overall, for "top sellers" shelves and for checking what the popularity model sees.
-- grain: one row per item
-- inputs: int_item_popularity
-- unique: item_id
-- order_by: rank
-- not_null: item_id, rank
-- columns:
--   item_id: the item
--   rank: 1 = most popular; ties broken by item_id
--   score: sum of event weights
--   users: distinct users who interacted with it
--   events: number of events
SELECT item_id, {{ rank_all_by('score', 'item_id') }} AS rank, score, users, events
FROM {{ ref('int_item_popularity') }}
