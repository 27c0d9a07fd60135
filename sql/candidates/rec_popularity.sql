-- Popularity recommender: every user's k most popular items that they have not interacted with yet, by
-- vars.popularity_score (score, decayed_score, trending_score or smoothed_score; see int_item_popularity).
-- Users of the users input without any event get the k most popular items: the fallback for no history.
-- A user who has seen n items needs at most the top k + n popular items, so candidates are bounded per user.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: the item's popularity score
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'popularity'
{% set kind = var('popularity_score', 'score') %}
{% if kind not in ['score', 'decayed_score', 'trending_score', 'smoothed_score'] %}
{{ raise_error("vars.popularity_score must be score, decayed_score, trending_score or smoothed_score") }}
{% endif %}
WITH popularity AS (
    SELECT item_id, {{ kind | ident }} AS score, {{ rank_all_by(kind, 'item_id') }} AS popularity_rank
    FROM {{ ref('int_item_popularity') }}
),
seen AS (
    SELECT DISTINCT user_id, item_id FROM {{ ref('stg_events') }}
),
all_users AS (
    SELECT user_id FROM seen
{% if has_input('users') %}
    UNION
    SELECT user_id FROM {{ source('users') }}
{% endif %}
),
history AS (
    SELECT u.user_id, count(s.item_id) AS n_seen
    FROM (SELECT DISTINCT user_id FROM all_users) AS u LEFT JOIN seen AS s ON s.user_id = u.user_id
    GROUP BY u.user_id
),
candidates AS (
    SELECT h.user_id, p.item_id, p.score
    FROM history AS h
    JOIN popularity AS p ON p.popularity_rank <= {{ var('k', 10) | int }} + h.n_seen
    WHERE NOT EXISTS (SELECT 1 FROM seen AS s WHERE s.user_id = h.user_id AND s.item_id = p.item_id)
),
ranked AS (
    SELECT user_id, item_id, score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank
    FROM candidates
)
SELECT user_id, item_id, score, rank, 'popularity' AS source
FROM ranked
WHERE rank <= {{ var('k', 10) | int }}
