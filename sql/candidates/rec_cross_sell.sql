-- Cross-sell: what completes the user's recent purchases. For each item the user bought within
-- vars.cross_sell_days (14) of their newest event, the items it co-occurs with (int_item_similarity) that belong to a
-- category following its own (int_category_transitions: bought after it more often than chance) and that the user
-- is not buying yet. Scored by the sum over those purchases of similarity x the transition's lift; items the user
-- already had are removed. Used in the blend for the users of vars.cross_sell_segments.
-- grain: one row per (user_id, item_id)
-- inputs: stg_events, int_item_attributes, int_user_categories, int_category_transitions, int_item_similarity
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: an item of a complementary category
--   score: summed similarity to recent purchases x lift of the category transition
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'cross_sell'
WITH recent AS (  -- the user's recent purchases, with their category
    SELECT DISTINCT e.user_id, e.item_id, a.category
    FROM {{ ref('stg_events') }} AS e
    JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = e.item_id
    JOIN (SELECT user_id, max(ts) AS last_ts FROM {{ ref('stg_events') }} GROUP BY user_id) AS l
      ON l.user_id = e.user_id
    WHERE e.event_type IN {{ var('purchase_events', ['purchase']) | lit }}
      AND e.ts >= l.last_ts - to_days({{ var('cross_sell_days', 14) | int }})
),
seen AS (
    SELECT DISTINCT user_id, item_id FROM {{ ref('stg_events') }}
),
scored AS (
    SELECT r.user_id, s.other_item_id AS item_id, sum(s.similarity * t.lift) AS score
    FROM recent AS r
    JOIN {{ ref('int_item_similarity') }} AS s ON s.item_id = r.item_id
    JOIN {{ ref('int_item_attributes') }} AS o ON o.item_id = s.other_item_id
    JOIN {{ ref('int_category_transitions') }} AS t ON t.category = r.category AND t.next_category = o.category
    WHERE NOT EXISTS (SELECT 1 FROM {{ ref('int_user_categories') }} AS c  -- a category the user is not buying now
                      WHERE c.user_id = r.user_id AND c.category = o.category AND c.recent_purchase)
    GROUP BY r.user_id, s.other_item_id
),
ranked AS (
    SELECT c.user_id, c.item_id, c.score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank
    FROM scored AS c
    WHERE c.score > 0
      AND NOT EXISTS (SELECT 1 FROM seen AS s WHERE s.user_id = c.user_id AND s.item_id = c.item_id)
)
SELECT user_id, item_id, score, rank, 'cross_sell' AS source FROM ranked
WHERE rank <= {{ list_depth(var) }}
