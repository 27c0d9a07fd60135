-- What the rules and re-rankers need to know about each user: their segment (NULL without a users input), their
-- typical price tier (the rounded mean tier_index of the items they purchased, else of every item they interacted
-- with) and when they were last active.
-- grain: one row per user with events, or in the users input
-- unique: user_id
-- columns:
--   user_id: the user
--   segment: their segment (or NULL)
--   typical_tier: their usual tier_index (NULL when no item of theirs has a tier)
--   last_ts: their newest event (NULL without events)
WITH history AS (
    SELECT e.user_id, e.ts, e.event_type IN {{ var('purchase_events', ['purchase']) | lit }} AS bought, a.tier_index
    FROM {{ ref('stg_events') }} AS e
    JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = e.item_id
),
tiers AS (
    SELECT user_id,
           CAST(round(coalesce(avg(tier_index) FILTER (WHERE bought), avg(tier_index))) AS INTEGER) AS typical_tier,
           max(ts) AS last_ts
    FROM history
    GROUP BY user_id
),
everyone AS (
    SELECT user_id FROM tiers
{% if has_input('users') %}
    UNION
    SELECT user_id FROM {{ source('users') }}
{% endif %}
)
SELECT e.user_id,
{% if has_input('users') %}
       CAST(u.segment AS VARCHAR) AS segment,
{% else %}
       CAST(NULL AS VARCHAR) AS segment,
{% endif %}
       t.typical_tier, t.last_ts
FROM (SELECT DISTINCT user_id FROM everyone) AS e
LEFT JOIN tiers AS t ON t.user_id = e.user_id
{% if has_input('users') %}
LEFT JOIN {{ source('users') }} AS u ON u.user_id = e.user_id
{% endif %}
