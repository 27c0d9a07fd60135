-- Content similarity between catalogue items: the cosine of their TF-IDF vectors (int_item_tokens), rounded to a
-- multiple of 2^-40 (about 1e-12, so that equal sums added in different orders tie exactly), keeping each item's vars.content_neighbours (50) most similar other items, ties broken by the smaller id.
-- Needs no events, so new items have neighbours from the day they are listed.
-- vars.content_similarity: "dense" (default) takes each item's best from int_content_similarity_candidates (blocks
-- of BLAS products, a Python stage); "sql" joins the items on their shared tokens here. Both give the same rows; the
-- SQL join holds one row per pair of items sharing a token, nearly every pair in a shop with few categories and
-- brands, so it is for small catalogues (bench/run.py measures both).
-- grain: one row per (item_id, other_item_id)
-- unique: item_id, other_item_id
-- columns:
--   item_id: the item
--   other_item_id: a similar item
--   similarity: cosine similarity of their TF-IDF vectors, rounded to a multiple of 2^-40
--   item_ix: the item's index (int_item_index)
--   other_item_ix: the other item's index
{% set method = var('content_similarity', 'dense') %}
WITH
{% if method == 'dense' %}
pairs AS (
    SELECT item_ix, other_item_ix, similarity FROM {{ ref('int_content_similarity_candidates') }}
),
{% elif method == 'sql' %}
tokens AS (
    SELECT i.item_ix, t.token, t.weight
    FROM {{ ref('int_item_tokens') }} AS t JOIN {{ ref('int_item_index') }} AS i ON i.item_id = t.item_id
),
sums AS MATERIALIZED (
    SELECT a.item_ix, b.item_ix AS other_item_ix, {% call exact_sum() %}a.weight * b.weight{% endcall %} AS similarity
    FROM tokens AS a
    JOIN tokens AS b ON b.token = a.token AND b.item_ix <> a.item_ix
    GROUP BY a.item_ix, b.item_ix
),
grid AS (  -- exact in IEEE doubles, as round_to_grid in sqlrec/factor_models.py; round() is not
    SELECT item_ix, other_item_ix,
           floor(similarity * CAST(1099511627776 AS DOUBLE) + 0.5) / CAST(1099511627776 AS DOUBLE) AS similarity
    FROM sums
),
pairs AS (
    SELECT item_ix, other_item_ix, similarity FROM grid WHERE similarity > 0
),
{% else %}
{{ raise_error("vars.content_similarity must be \"dense\" (blocks of BLAS products, the default) or \"sql\"") }}
{% endif %}
kept AS (
    {{ top_k('pairs', 'item_ix', 'similarity', 'other_item_ix', var('content_neighbours', 50) | int) }}
)
SELECT i.item_id, j.item_id AS other_item_id, k.similarity, k.item_ix, k.other_item_ix
FROM kept AS k
JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = k.item_ix
JOIN {{ ref('int_item_index') }} AS j ON j.item_ix = k.other_item_ix
