-- The users an experiment assigns: everyone with events, and everyone in the users input.
-- grain: one row per user_id
-- unique: user_id
-- columns:
--   user_id: the user

-- UNION (not UNION ALL) leaves one row per user; without a users input, DISTINCT does.
SELECT DISTINCT user_id FROM {{ ref('stg_events') }}
{% if has_input('users') %}
UNION
SELECT user_id FROM {{ source('users') }}
{% endif %}
