-- A dense integer index of the items: 0, 1, 2, ... in item_id order, so that ordering by item_ix is ordering by
-- item_id. The item-based recommenders join, count and rank on these small integers and map back to item_id at
-- the end, whatever type the ids have (text product codes included). Covers the items with events and, when there
-- is an items input, every catalogue item, so content similarity reaches items nobody has bought yet.
-- grain: one row per item
-- unique: item_id
-- columns:
--   item_id: the item
--   item_ix: its index, 0-based, in item_id order
WITH ids AS (
    SELECT item_id FROM {{ ref('stg_events') }}
{% if has_input('items') %}
    UNION ALL
    SELECT item_id FROM {{ source('items') }}
{% endif %}
)
SELECT item_id, CAST(row_number() OVER (ORDER BY item_id) - 1 AS INTEGER) AS item_ix
FROM (SELECT DISTINCT item_id FROM ids) AS distinct_ids
