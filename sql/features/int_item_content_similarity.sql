-- Content similarity between catalogue items: the cosine of their TF-IDF vectors (int_item_tokens), keeping each
-- item's vars.content_neighbours (50) most similar other items, ties broken by the smaller id. Needs no events, so
-- new items have neighbours from the day they are listed.
-- grain: one row per (item_id, other_item_id)
-- inputs: int_item_tokens, int_item_index
-- unique: item_id, other_item_id
-- columns:
--   item_id: the item
--   other_item_id: a similar item
--   similarity: cosine similarity of their TF-IDF vectors
--   item_ix: the item's index (int_item_index)
--   other_item_ix: the other item's index
WITH tokens AS (
    SELECT i.item_ix, t.token, t.weight
    FROM {{ ref('int_item_tokens') }} AS t JOIN {{ ref('int_item_index') }} AS i ON i.item_id = t.item_id
),
pairs AS MATERIALIZED (
    SELECT a.item_ix, b.item_ix AS other_item_ix, {% call exact_sum() %}a.weight * b.weight{% endcall %} AS similarity
    FROM tokens AS a
    JOIN tokens AS b ON b.token = a.token AND b.item_ix <> a.item_ix
    GROUP BY a.item_ix, b.item_ix
),
kept AS (
    {{ top_k('pairs', 'item_ix', 'similarity', 'other_item_ix', var('content_neighbours', 50) | int) }}
)
SELECT i.item_id, j.item_id AS other_item_id, k.similarity, k.item_ix, k.other_item_ix
FROM kept AS k
JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = k.item_ix
JOIN {{ ref('int_item_index') }} AS j ON j.item_ix = k.other_item_ix
