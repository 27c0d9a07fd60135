-- "Buy again": items the user purchased before in a consumable category (vars.repurchase_categories, e.g.
-- ["coffee", "skincare"]), the only purchased items the business rules let back into a list. Scored by the
-- number of purchases, each halved per vars.repurchase_half_life_days (30) since it happened, so the staples a user
-- buys often and lately come first. Empty when no category is listed.
-- grain: one row per (user_id, item_id)
-- inputs: stg_events, int_item_attributes
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: an item they bought before
--   score: time-decayed count of their purchases of it
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'repurchase'
{% set categories = var('repurchase_categories', []) %}
WITH now AS (
    SELECT max(ts) AS t_now FROM {{ ref('stg_events') }}
),
bought AS (
    SELECT e.user_id, e.item_id,
           sum(pow(0.5, (epoch(n.t_now) - epoch(e.ts))
                        / ({{ var('repurchase_half_life_days', 30) | float }} * 86400.0))) AS score
    FROM {{ ref('stg_events') }} AS e
    CROSS JOIN now AS n
    JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = e.item_id
    WHERE e.event_type IN {{ var('purchase_events', ['purchase']) | lit }}
{% if categories %}
      AND a.category IN {{ categories | lit }}
{% else %}
      AND false
{% endif %}
    GROUP BY e.user_id, e.item_id
),
ranked AS (
    SELECT user_id, item_id, score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank FROM bought
)
SELECT user_id, item_id, score, rank, 'repurchase' AS source FROM ranked
WHERE rank <= {{ list_depth(var) }}
