-- Item popularity over all events, in the forms the popularity recommender can rank by (vars.popularity_score):
--   score           sum of event weights
--   decayed_score   the same, each weight halved per vars.popularity_half_life_days (14) before the newest event
--   trending_score  (weight in the last vars.trending_days (7) + m) / (weight in the window before + m), m =
--                   vars.popularity_prior (5): how much faster an item is selling now than just before
--   smoothed_score  Bayesian average weight per user: (users x mean + m x global mean) / (users + m), so that an
--                   item with few users is pulled towards the average item
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
WITH now AS (SELECT max(ts) AS t_now FROM {{ ref('stg_events') }}),
per_item AS (
    SELECT e.item_id,
           sum(e.weight) AS score,
           count(DISTINCT e.user_id) AS users,
           count(*) AS events,
           sum(e.weight * pow(0.5, (epoch(n.t_now) - epoch(e.ts))
                                   / ({{ var('popularity_half_life_days', 14) | float }} * 86400.0))) AS decayed_score,
           sum(CASE WHEN e.ts > n.t_now - to_days({{ var('trending_days', 7) | int }}) THEN e.weight ELSE 0 END)
               AS recent,
           sum(CASE WHEN e.ts <= n.t_now - to_days({{ var('trending_days', 7) | int }})
                     AND e.ts > n.t_now - to_days(2 * {{ var('trending_days', 7) | int }}) THEN e.weight ELSE 0 END)
               AS earlier
    FROM {{ ref('stg_events') }} AS e CROSS JOIN now AS n
    GROUP BY e.item_id
),
prior AS (SELECT sum(score) / sum(users) AS mean_per_user FROM per_item)
SELECT item_id, score, users, events, decayed_score,
       (recent + {{ var('popularity_prior', 5) | float }}) / (earlier + {{ var('popularity_prior', 5) | float }})
           AS trending_score,
       (score + {{ var('popularity_prior', 5) | float }} * p.mean_per_user) / (users + {{ var('popularity_prior', 5) | float }})
           AS smoothed_score
FROM per_item CROSS JOIN prior AS p
