-- Item co-occurrence counts C = B^T B over the binary user x item matrix B, by item index: for each pair of items
-- the number of users who had both, and on the diagonal the users who had the item. C is symmetric, so each
-- unordered pair is counted once and stored once (item_ix < other_item_ix; int_item_cooccurrence shows the whole
-- matrix by item id). Entries below vars.cooccurrence_threshold (1) are dropped, as SAR does.
-- The pairs are counted in vars.cooccurrence_partitions (32) slices of items (item_ix modulo the count), each slice
-- its own aggregation: many small hash tables stay in the CPU cache where one large one does not, which at 5M
-- events makes counting about 1.5x faster (bench/cooccurrence.py). Every slice gives the same counts.
-- grain: one row per (item_ix, other_item_ix), item_ix <= other_item_ix
-- inputs: int_user_affinity
-- unique: item_ix, other_item_ix
-- columns:
--   item_ix: the item (int_item_index)
--   other_item_ix: the other item, not smaller than item_ix (equal on the diagonal)
--   users: users who had both
{% set partitions = var('cooccurrence_partitions', 32) %}
{% if partitions is not integer or partitions < 1 %}
{{ raise_error("vars.cooccurrence_partitions must be a whole number of at least 1 (1 = one aggregation)") }}
{% endif %}
WITH baskets AS (
    SELECT user_ix, item_ix FROM {{ ref('int_user_affinity') }}
),
counted AS (
{% for part in range(partitions) %}
    SELECT a.item_ix, b.item_ix AS other_item_ix, count(*) AS users
    FROM baskets AS a JOIN baskets AS b ON b.user_ix = a.user_ix AND b.item_ix > a.item_ix
{% if partitions > 1 %}
    WHERE a.item_ix % {{ partitions }} = {{ part }}
{% endif %}
    GROUP BY a.item_ix, b.item_ix
    UNION ALL
{% endfor %}
    SELECT item_ix, item_ix, count(*) FROM baskets GROUP BY item_ix
)
SELECT item_ix, other_item_ix, users FROM counted
WHERE users >= {{ var('cooccurrence_threshold', 1) | int }}
