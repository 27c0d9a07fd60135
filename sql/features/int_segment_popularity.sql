-- Item popularity within each user segment (the users input's `segment`; users without one, or missing from the
-- users input, form the segment '(none)'), in the same forms as int_item_popularity, for the popularity
-- recommender with vars.popularity_by = "segment". Time windows run from the newest event overall. Empty without
-- a users input.
-- grain: one row per (segment, item_id)
-- unique: segment, item_id
-- columns:
--   segment: the user segment
--   item_id: the item
--   score: sum of event weights of the segment's users
--   users: distinct users of the segment who interacted with it
--   events: number of events
--   decayed_score: time-decayed sum of weights
--   trending_score: recent over earlier weight, smoothed
--   smoothed_score: Bayesian-smoothed average weight per user, towards the segment's average item
{% if has_input('users') %}
{% call popularity_scores(var, 'segment') %}
    SELECT e.user_id, e.item_id, e.ts, e.weight, coalesce(CAST(u.segment AS VARCHAR), '(none)') AS segment
    FROM {{ ref('stg_events') }} AS e
    LEFT JOIN {{ source('users') }} AS u ON u.user_id = e.user_id
{% endcall %}
{% else %}
SELECT CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS BIGINT) AS item_id, CAST(NULL AS DOUBLE) AS score,
       CAST(NULL AS BIGINT) AS users, CAST(NULL AS BIGINT) AS events, CAST(NULL AS DOUBLE) AS decayed_score,
       CAST(NULL AS DOUBLE) AS trending_score, CAST(NULL AS DOUBLE) AS smoothed_score
WHERE false
{% endif %}
