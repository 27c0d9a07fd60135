{#
  neighbour_recommendations(affinity, similarity, k, source)
  Item-based recommendations: score(u, j) = sum over the user's items i of affinity(u, i) x similarity(i, j);
  items the user already has in `affinity` are removed; the k best per user, ties broken by the smaller item id.
    affinity    (user_id, item_id, affinity)
    similarity  (item_id, other_item_id, similarity)
  Returns user_id, item_id, score, rank, source (= `source`, a literal).
  Usage: {{ neighbour_recommendations(ref('int_user_affinity'), ref('int_item_similarity'), var('k', 10), 'cooccurrence') }}
#}
{% macro neighbour_recommendations(affinity, similarity, k, source) -%}
WITH scores AS (
    SELECT a.user_id, s.other_item_id AS item_id, sum(a.affinity * s.similarity) AS score
    FROM {{ affinity }} AS a
    JOIN {{ similarity }} AS s ON s.item_id = a.item_id
    GROUP BY a.user_id, s.other_item_id
),
unseen AS (
    SELECT sc.user_id, sc.item_id, sc.score
    FROM scores AS sc
    WHERE NOT EXISTS (SELECT 1 FROM {{ affinity }} AS a WHERE a.user_id = sc.user_id AND a.item_id = sc.item_id)
),
ranked AS (
    SELECT user_id, item_id, score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank FROM unseen
)
SELECT user_id, item_id, score, rank, {{ source | lit }} AS source
FROM ranked
WHERE rank <= {{ k | int }}
{%- endmacro %}
