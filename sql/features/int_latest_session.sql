-- The items of each user's latest visit: the events sharing the session_id of the user's newest event, or, without
-- session ids, the events within vars.session_gap_minutes (30) before it.
-- grain: one row per (user_id, item_id)
-- inputs: stg_events
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: an item of their latest session
WITH latest AS (  -- each user's newest event (ties broken by session id, then item)
    SELECT user_id, session_id, ts AS last_ts
    FROM {{ ref('stg_events') }}
    QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY ts DESC, session_id DESC NULLS LAST, item_id DESC) = 1
)
SELECT DISTINCT e.user_id, e.item_id
FROM {{ ref('stg_events') }} AS e
JOIN latest AS l ON l.user_id = e.user_id
WHERE (l.session_id IS NOT NULL AND e.session_id = l.session_id)
   OR (l.session_id IS NULL AND e.ts >= l.last_ts - to_minutes({{ var('session_gap_minutes', 30) | int }}))
