-- Item co-occurrence C = B^T B over the binary user x item matrix B: for each pair of items, the number of users who
-- had both (the diagonal: users who had the item). Each unordered pair is counted once, then mirrored. Entries below
-- vars.cooccurrence_threshold (1) are dropped, as SAR does.
-- grain: one row per (item_id, other_item_id) with a count
-- inputs: int_user_affinity
-- unique: item_id, other_item_id
-- columns:
--   item_id: the item
--   other_item_id: the other item (equal to item_id on the diagonal)
--   users: users who had both
WITH baskets AS (
    SELECT user_id, item_id FROM {{ ref('int_user_affinity') }}
),
once AS (
    SELECT a.item_id, b.item_id AS other_item_id, count(*) AS users
    FROM baskets AS a JOIN baskets AS b ON b.user_id = a.user_id AND b.item_id > a.item_id
    GROUP BY a.item_id, b.item_id
),
diagonal AS (
    SELECT item_id, item_id AS other_item_id, count(*) AS users FROM baskets GROUP BY item_id
),
everything AS (
    SELECT item_id, other_item_id, users FROM once
    UNION ALL
    SELECT other_item_id, item_id, users FROM once
    UNION ALL
    SELECT item_id, other_item_id, users FROM diagonal
)
SELECT item_id, other_item_id, users FROM everything
WHERE users >= {{ var('cooccurrence_threshold', 1) | int }}
