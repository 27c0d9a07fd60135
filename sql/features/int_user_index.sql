-- A dense integer index of the users with events: 0, 1, 2, ... in user_id order. Recommenders group and rank on it
-- and map back to user_id at the end, whatever type the ids have.
-- grain: one row per user
-- inputs: stg_events
-- unique: user_id
-- columns:
--   user_id: the user
--   user_ix: its index, 0-based, in user_id order
SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) - 1 AS INTEGER) AS user_ix
FROM (SELECT DISTINCT user_id FROM {{ ref('stg_events') }}) AS distinct_ids
