-- Popularity recommender: every user's k most popular items that they have not interacted with yet.
-- A user who has seen n items needs at most the top k + n popular items, so candidates are bounded per user.
-- grain: one row per (user_id, item_id)
-- inputs: int_item_popularity, stg_events
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: the item's popularity score
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'popularity'
WITH popularity AS (
    SELECT item_id, score, {{ rank_all_by('score', 'item_id') }} AS popularity_rank
    FROM {{ ref('int_item_popularity') }}
),
seen AS (
    SELECT DISTINCT user_id, item_id FROM {{ ref('stg_events') }}
),
history AS (
    SELECT user_id, count(*) AS n_seen FROM seen GROUP BY user_id
),
candidates AS (
    SELECT h.user_id, p.item_id, p.score
    FROM history AS h
    JOIN popularity AS p ON p.popularity_rank <= {{ var('k', 10) }} + h.n_seen
    WHERE NOT EXISTS (SELECT 1 FROM seen AS s WHERE s.user_id = h.user_id AND s.item_id = p.item_id)
),
ranked AS (
    SELECT user_id, item_id, score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank
    FROM candidates
)
SELECT user_id, item_id, score, rank, 'popularity' AS source
FROM ranked
WHERE rank <= {{ var('k', 10) }}
