-- Item popularity over all events, in the forms the popularity recommender can rank by (vars.popularity_score):
--   score           sum of event weights
--   decayed_score   the same, each weight halved per vars.popularity_half_life_days (14) before the newest event
--   trending_score  (weight in the last vars.trending_days (7) + m) / (weight in the window before + m), m =
--                   vars.popularity_prior (5): how much faster an item is selling now than just before
--   smoothed_score  Bayesian average weight per user: (users x mean + m x global mean) / (users + m), so that an
--                   item with few users is pulled towards the average item
-- The formulas are in macros/popularity.sql, shared with int_segment_popularity.
-- grain: one row per item
-- inputs: stg_events
-- unique: item_id
-- columns:
--   item_id: the item
--   score: sum of event weights
--   users: distinct users who interacted with it
--   events: number of events
--   decayed_score: time-decayed sum of weights
--   trending_score: recent over earlier weight, smoothed
--   smoothed_score: Bayesian-smoothed average weight per user
{% call popularity_scores(var) %}
    SELECT user_id, item_id, ts, weight FROM {{ ref('stg_events') }}
{% endcall %}
