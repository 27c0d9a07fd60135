-- Each user's category mix, for calibration (Steck 2018: a list's categories should mirror the history's) and for
-- cross-sell (what the user is buying now): the share of their events' weight in each category, and whether they
-- purchased in it within vars.cross_sell_days (14) of their newest event. Empty without item categories.
-- grain: one row per (user_id, category)
-- inputs: stg_events, int_item_attributes
-- unique: user_id, category
-- columns:
--   user_id: the user
--   category: a category of items they interacted with
--   share: that category's share of their events' weight (the shares of a user sum to 1)
--   recent_purchase: they bought in it within vars.cross_sell_days of their newest event
WITH history AS (
    SELECT e.user_id, a.category, e.weight, e.ts,
           e.event_type IN {{ var('purchase_events', ['purchase']) | lit }} AS bought,
           max(e.ts) OVER (PARTITION BY e.user_id) AS last_ts
    FROM {{ ref('stg_events') }} AS e
    JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = e.item_id
    WHERE a.category IS NOT NULL
)
SELECT user_id, category,
       sum(weight) / sum(sum(weight)) OVER (PARTITION BY user_id) AS share,
       bool_or(bought AND ts >= last_ts - to_days({{ var('cross_sell_days', 14) | int }})) AS recent_purchase
FROM history
GROUP BY user_id, category
