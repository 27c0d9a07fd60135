-- The whole co-occurrence matrix C = B^T B by item id, for analysts: for each ordered pair of items the number of
-- users who had both, and on the diagonal the users who had the item. A view over int_item_pair_counts, which
-- stores each unordered pair once; entries below vars.cooccurrence_threshold are not in it.
-- grain: one row per (item_id, other_item_id) with a count
-- inputs: int_item_pair_counts, int_item_index
-- materialized: view
-- unique: item_id, other_item_id
-- columns:
--   item_id: the item
--   other_item_id: the other item (equal to item_id on the diagonal)
--   users: users who had both
WITH named AS (
    SELECT i.item_id, j.item_id AS other_item_id, c.users
    FROM (SELECT * FROM {{ ref('int_item_pair_counts') }}
          WHERE users >= {{ var('cooccurrence_threshold', 1) | int }}) AS c
    JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = c.item_ix
    JOIN {{ ref('int_item_index') }} AS j ON j.item_ix = c.other_item_ix
)
SELECT item_id, other_item_id, users FROM named
UNION ALL
SELECT other_item_id, item_id, users FROM named WHERE item_id <> other_item_id
