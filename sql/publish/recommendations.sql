-- Top-k recommendations for every user, with where each came from and why. The table product pages,
-- e-mail campaigns and BI dashboards read.
-- grain: one row per (user_id, item_id)
-- inputs: rec_popularity, int_item_popularity
-- unique: user_id, item_id
-- not_null: user_id, item_id, score, rank, source
-- columns:
--   user_id: the user
--   item_id: the recommended item
--   score: the recommender's score (higher is better; comparable within a source)
--   rank: position in the user's list, 1 = first
--   source: the recommender that produced the row
--   reason: a sentence a person can read, explaining the recommendation
SELECT
    r.user_id,
    r.item_id,
    r.score,
    r.rank,
    r.source,
    'Popular: ' || CAST(p.users AS VARCHAR) || ' customers interacted with it' AS reason
FROM {{ ref('rec_popularity') }} AS r
JOIN {{ ref('int_item_popularity') }} AS p ON p.item_id = r.item_id
