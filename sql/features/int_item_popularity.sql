-- Item popularity over all events: total weight, distinct users and event count per item.
-- grain: one row per item
-- inputs: stg_events
-- unique: item_id
-- columns:
--   item_id: the item
--   score: sum of event weights
--   users: distinct users who interacted with it
--   events: number of events
SELECT
    item_id,
    sum(weight) AS score,
    count(DISTINCT user_id) AS users,
    count(*) AS events
FROM {{ ref('stg_events') }}
GROUP BY item_id
