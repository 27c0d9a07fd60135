-- The sizes of the train and test splits, and the leakage check: `leaked_rows` counts test events that also sit in
-- training, plus, for the time split, training events at or after the cut-off. The run fails unless it is 0.
-- grain: one row per split
-- unique: split
-- inputs: eval_split
-- zero: leaked_rows
-- columns:
--   split: train or test
--   events: events in the split
--   users: distinct users
--   items: distinct items
--   first_ts: earliest event
--   last_ts: latest event
--   cutoff: the time split's cut-off (NULL for other methods)
--   leaked_rows: must be 0
WITH sizes AS (
    SELECT __split AS split, count(*) AS events, count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items,
           min(ts) AS first_ts, max(ts) AS last_ts, max(__cutoff) AS cutoff
    FROM {{ ref('eval_split') }}
    GROUP BY __split
),
leaks AS (
    SELECT count(*) AS n FROM (
        SELECT user_id, item_id, ts, event_type FROM {{ ref('eval_split') }} WHERE __split = 'train'
        INTERSECT ALL
        SELECT user_id, item_id, ts, event_type FROM {{ ref('eval_split') }} WHERE __split = 'test'
    ) AS both_sides
    UNION ALL
    SELECT count(*) FROM {{ ref('eval_split') }} WHERE __split = 'train' AND __cutoff IS NOT NULL AND ts >= __cutoff
)
SELECT s.split, s.events, s.users, s.items, s.first_ts, s.last_ts, s.cutoff,
       (SELECT CAST(sum(n) AS BIGINT) FROM leaks) AS leaked_rows  -- BIGINT: DuckDB sums to HUGEINT
FROM sizes AS s
