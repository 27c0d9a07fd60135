-- Each user's affinity for each item they interacted with: the sum of their events' weights, each halved for every
-- half-life between the event and the newest event (SAR's time decay: w * min(1, 0.5^((t_now - t) / half_life))).
-- vars: cooccurrence_half_life_days (30; 0 = no decay), cooccurrence_max_history (0 = every item; N keeps each
-- user's N items of highest affinity, a knob for scale).
-- grain: one row per (user_id, item_id)
-- inputs: stg_events, int_user_index, int_item_index
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: an item they interacted with
--   affinity: time-decayed sum of event weights
--   user_ix: the user's index (int_user_index)
--   item_ix: the item's index (int_item_index)
WITH now AS (
    SELECT max(ts) AS t_now FROM {{ ref('stg_events') }}
),
decayed AS (
    SELECT e.user_id, e.item_id,
{% if var('cooccurrence_half_life_days', 30) > 0 %}
           e.weight * least(1.0, pow(0.5, (epoch(n.t_now) - epoch(e.ts))
                                           / ({{ var('cooccurrence_half_life_days', 30) | float }} * 86400.0))) AS w
{% else %}
           e.weight AS w
{% endif %}
    FROM {{ ref('stg_events') }} AS e CROSS JOIN now AS n
),
affinity AS (
    SELECT user_id, item_id, sum(w) AS affinity FROM decayed GROUP BY user_id, item_id
),
kept AS (
{% if var('cooccurrence_max_history', 0) > 0 %}
    SELECT user_id, item_id, affinity FROM affinity
    QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY affinity DESC, item_id)
            <= {{ var('cooccurrence_max_history', 0) | int }}
{% else %}
    SELECT user_id, item_id, affinity FROM affinity
{% endif %}
)
SELECT k.user_id, k.item_id, k.affinity, u.user_ix, i.item_ix
FROM kept AS k
JOIN {{ ref('int_user_index') }} AS u ON u.user_id = k.user_id
JOIN {{ ref('int_item_index') }} AS i ON i.item_id = k.item_id
