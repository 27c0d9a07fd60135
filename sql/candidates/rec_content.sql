-- Content-based recommender: score(u, j) = sum over the user's items i of affinity(u, i) x content similarity(i, j);
-- items the user already had are removed; the k best per user, ties broken by the smaller item id. Recommends items
-- without any event yet, because similarity comes from the catalogue text and attributes.
-- grain: one row per (user_id, item_id)
-- inputs: int_user_affinity, int_item_content_similarity
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: affinity-weighted content similarity to the user's items
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'content'
WITH scores AS (
    SELECT a.user_id, s.other_item_id AS item_id, sum(a.affinity * s.similarity) AS score
    FROM {{ ref('int_user_affinity') }} AS a
    JOIN {{ ref('int_item_content_similarity') }} AS s ON s.item_id = a.item_id
    GROUP BY a.user_id, s.other_item_id
),
unseen AS (
    SELECT sc.user_id, sc.item_id, sc.score FROM scores AS sc
    WHERE NOT EXISTS (SELECT 1 FROM {{ ref('int_user_affinity') }} AS a
                      WHERE a.user_id = sc.user_id AND a.item_id = sc.item_id)
),
ranked AS (
    SELECT user_id, item_id, score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank FROM unseen
)
SELECT user_id, item_id, score, rank, 'content' AS source
FROM ranked
WHERE rank <= {{ var('k', 10) | int }}
