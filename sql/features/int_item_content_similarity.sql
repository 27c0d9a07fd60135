-- Content similarity between catalogue items: the cosine of their TF-IDF vectors (int_item_tokens), keeping each
-- item's vars.content_neighbours (50) most similar other items, ties broken by the smaller id. Needs no events, so
-- new items have neighbours from the day they are listed.
-- grain: one row per (item_id, other_item_id)
-- inputs: int_item_tokens
-- unique: item_id, other_item_id
-- columns:
--   item_id: the item
--   other_item_id: a similar item
--   similarity: cosine similarity of their TF-IDF vectors
WITH pairs AS (
    SELECT a.item_id, b.item_id AS other_item_id, sum(a.weight * b.weight) AS similarity
    FROM {{ ref('int_item_tokens') }} AS a
    JOIN {{ ref('int_item_tokens') }} AS b ON b.token = a.token AND b.item_id <> a.item_id
    GROUP BY a.item_id, b.item_id
)
SELECT item_id, other_item_id, similarity FROM pairs
QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY similarity DESC, other_item_id)
        <= {{ var('content_neighbours', 50) | int }}
