-- Item-item similarity from co-occurrence, by vars.cooccurrence_similarity (jaccard; every function is in
-- macros/similarity.sql). vars.cooccurrence_neighbours keeps each item's N most similar other items, ties broken by
-- the smaller id (0 = keep all: exact SAR).
-- grain: one row per (item_id, other_item_id)
-- inputs: int_item_cooccurrence
-- unique: item_id, other_item_id
-- columns:
--   item_id: the item
--   other_item_id: a co-occurring item (the item itself on the diagonal, unless neighbours are pruned)
--   similarity: the similarity
WITH counts AS (
    SELECT c.item_id, c.other_item_id, c.users AS c_ij, di.users AS c_ii, dj.users AS c_jj
    FROM {{ ref('int_item_cooccurrence') }} AS c
    JOIN {{ ref('int_item_cooccurrence') }} AS di ON di.item_id = c.item_id AND di.other_item_id = c.item_id
    JOIN {{ ref('int_item_cooccurrence') }} AS dj ON dj.item_id = c.other_item_id AND dj.other_item_id = c.other_item_id
),
sizes AS (
    SELECT count(*) AS n_items FROM {{ ref('int_item_cooccurrence') }} WHERE item_id = other_item_id
),
scored AS (
    SELECT item_id, other_item_id,
           {{ item_similarity(var('cooccurrence_similarity', 'jaccard'), 'c_ij', 'c_ii', 'c_jj', 'n_items' | ident,
                              var('cooccurrence_damping', [0.5, 0.5])) }} AS similarity
    FROM counts CROSS JOIN sizes
)
{% if var('cooccurrence_neighbours', 0) > 0 %}
SELECT item_id, other_item_id, similarity FROM scored
WHERE item_id <> other_item_id
QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY similarity DESC, other_item_id)
        <= {{ var('cooccurrence_neighbours', 0) | int }}
{% else %}
SELECT item_id, other_item_id, similarity FROM scored
{% endif %}
