-- Item-item similarity from co-occurrence, by vars.cooccurrence_similarity (jaccard; every function is in
-- macros/similarity.sql), for every pair of different items that co-occur. vars.cooccurrence_neighbours (50) keeps
-- each item's N most similar other items, ties broken by the smaller id; 0 keeps all: exact SAR, which
-- vars.cooccurrence_exact = true also gives (with whole histories: int_user_affinity). An item's
-- similarity to itself is left out: it only ever scores items the user already has, which are never recommended.
-- Pairs that fewer than vars.cooccurrence_threshold (1) users had are left out, as SAR zeroes them.
-- grain: one row per (item_id, other_item_id), item_id <> other_item_id
-- inputs: int_item_pair_counts, int_user_affinity, int_item_index
-- unique: item_id, other_item_id
-- columns:
--   item_id: the item
--   other_item_id: a co-occurring item
--   similarity: the similarity
--   item_ix: the item's index (int_item_index)
--   other_item_ix: the other item's index
WITH counts AS (  -- SAR zeroes counts below the threshold (a pair's count never exceeds its items' diagonals)
    SELECT item_ix, other_item_ix, users FROM {{ ref('int_item_pair_counts') }}
    WHERE users >= {{ var('cooccurrence_threshold', 1) | int }}
),
diagonal AS (
    SELECT item_ix, users FROM counts WHERE item_ix = other_item_ix
),
sizes AS (  -- items in training, as SAR's matrix size (mutual information)
    SELECT count(DISTINCT item_ix) AS n_items FROM {{ ref('int_user_affinity') }}
),
pairs AS (
    SELECT c.item_ix, c.other_item_ix, c.users AS c_ij, di.users AS c_ii, dj.users AS c_jj, s.n_items
    FROM counts AS c
    JOIN diagonal AS di ON di.item_ix = c.item_ix
    JOIN diagonal AS dj ON dj.item_ix = c.other_item_ix
    CROSS JOIN sizes AS s
    WHERE c.item_ix < c.other_item_ix
),
{% set function = var('cooccurrence_similarity', 'jaccard') %}
{% set damping = var('cooccurrence_damping', [0.5, 0.5]) %}
both_directions AS MATERIALIZED (  -- each pair is stored once; similarity(j, i) swaps the roles of c_ii and c_jj
    SELECT item_ix, other_item_ix,
           {{ item_similarity(function, 'c_ij', 'c_ii', 'c_jj', 'n_items' | ident, damping) }} AS similarity
    FROM pairs
    UNION ALL
    SELECT other_item_ix, item_ix,
           {{ item_similarity(function, 'c_ij', 'c_jj', 'c_ii', 'n_items' | ident, damping) }}
    FROM pairs
),
{% set neighbours = var('cooccurrence_neighbours', 0 if var('cooccurrence_exact', false) else 50) | int %}
{% if neighbours > 0 %}
kept AS (
    {{ top_k('both_directions', 'item_ix', 'similarity', 'other_item_ix', neighbours) }}
)
{% else %}
kept AS (
    SELECT item_ix, other_item_ix, similarity FROM both_directions
)
{% endif %}
SELECT i.item_id, j.item_id AS other_item_id, k.similarity, k.item_ix, k.other_item_ix
FROM kept AS k
JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = k.item_ix
JOIN {{ ref('int_item_index') }} AS j ON j.item_ix = k.other_item_ix
