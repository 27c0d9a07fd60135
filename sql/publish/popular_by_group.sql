-- The most popular items overall and within groups: each item category (when there is an items input) and each
-- user segment (when there is a users input; int_segment_popularity), by the sum of event weights. For "top
-- sellers in <category>" shelves.
-- grain: one row per (grouping, group_value, item_id)
-- unique: grouping, group_value, item_id
-- order_by: grouping, group_value, rank
-- columns:
--   grouping: category or segment
--   group_value: the category or segment
--   item_id: the item
--   score: its popularity within the group
--   rank: 1 = most popular in the group, ties broken by item_id
WITH weighted AS (
    SELECT e.user_id, e.item_id, e.weight FROM {{ ref('stg_events') }} AS e
),
groups AS (
    SELECT 'all' AS grouping, 'all' AS group_value, item_id, sum(weight) AS score FROM weighted GROUP BY item_id
{% if has_input('items') %}
    UNION ALL
    SELECT 'category', coalesce(i.category, '(none)'), w.item_id, sum(w.weight)
    FROM weighted AS w JOIN {{ source('items') }} AS i ON i.item_id = w.item_id
    GROUP BY coalesce(i.category, '(none)'), w.item_id
{% endif %}
{% if has_input('users') %}
    UNION ALL
    SELECT 'segment', segment, item_id, score FROM {{ ref('int_segment_popularity') }}
{% endif %}
)
SELECT grouping, group_value, item_id, score,
       row_number() OVER (PARTITION BY grouping, group_value ORDER BY score DESC, item_id) AS rank
FROM groups
