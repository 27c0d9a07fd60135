{#
  neighbour_recommendations(affinity, similarity, users, items, k, source, partitions=1, affinity_column='affinity',
                            similarity_column='similarity')
  Item-based recommendations: score(u, j) = sum over the user's items i of affinity(u, i) x similarity(i, j);
  items the user already has in `affinity` are removed, and so are scores of exactly 0; the k best per user, ties
  broken by the smaller item id. Works on the dense integer indexes and maps back to ids at the end. This is the
  SQL path (vars.neighbour_scoring = "sql"); rank_candidates() below is the end of the sparse path.
    affinity    (user_ix, item_ix, affinity)
    similarity  (item_ix, other_item_ix, similarity)
    users       (user_id, user_ix): int_user_index
    items       (item_id, item_ix): int_item_index
    partitions  score the users in this many slices (user_ix modulo the count), each its own aggregation and
                top-k: with thousands of neighbours per item (no pruning) a single aggregation over every
                (user, item) pair outgrows the CPU cache and memory; the lists are the same for any value
  Returns user_id, item_id, score, rank, source (= `source`, a literal).
  Usage: {{ neighbour_recommendations(ref('int_user_affinity'), ref('int_item_similarity'), ref('int_user_index'),
                                      ref('int_item_index'), var('k', 10), 'cooccurrence') }}
#}
{% macro neighbour_recommendations(affinity, similarity, users, items, k, source, partitions=1,
                                   affinity_column='affinity', similarity_column='similarity') -%}
{%- if partitions is not integer or partitions < 1 -%}
{{ raise_error("neighbour_recommendations(): partitions must be a whole number of at least 1") }}
{%- endif -%}
WITH
{% for part in range(partitions) %}
scores_{{ part }} AS (
    SELECT a.user_ix, s.other_item_ix AS item_ix,
           sum(a.{{ affinity_column | ident }} * s.{{ similarity_column | ident }}) AS score
    FROM {{ affinity }} AS a
    JOIN {{ similarity }} AS s ON s.item_ix = a.item_ix
{% if partitions > 1 %}
    WHERE a.user_ix % {{ partitions }} = {{ part }}
{% endif %}
    GROUP BY a.user_ix, s.other_item_ix
),
unseen_{{ part }} AS MATERIALIZED (  -- a score of exactly 0 is no evidence: not a candidate (as the sparse path)
    SELECT sc.user_ix, sc.item_ix, sc.score
    FROM scores_{{ part }} AS sc
    WHERE sc.score <> 0
      AND NOT EXISTS (SELECT 1 FROM {{ affinity }} AS a WHERE a.user_ix = sc.user_ix AND a.item_ix = sc.item_ix)
),
top_{{ part }} AS (
    {{ top_k('unseen_' ~ part, 'user_ix', 'score', 'item_ix', k) }}
),
{% endfor %}
ranked AS (
{% for part in range(partitions) %}
    SELECT user_ix, item_ix, score, "rank" FROM top_{{ part }}
{% if not loop.last %}
    UNION ALL
{% endif %}
{% endfor %}
)
SELECT u.user_id, i.item_id, r.score, r."rank", {{ source | lit }} AS source
FROM ranked AS r
JOIN {{ users }} AS u ON u.user_ix = r.user_ix
JOIN {{ items }} AS i ON i.item_ix = r.item_ix
{%- endmacro %}


{#
  rank_candidates(candidates, users, items, k, source)
  The end of the sparse scoring path (vars.neighbour_scoring = "sparse"): `candidates` (user_ix, item_ix, score) holds
  each user's unseen items at or above their k-th best score (a Python stage, sqlrec/stages/neighbours.py); this
  ranks them, ties broken by the smaller item id, keeps k, and maps the indexes back to ids.
  Returns user_id, item_id, score, rank, source (= `source`, a literal).
  Usage: {{ rank_candidates(ref('int_cooccurrence_candidates'), ref('int_user_index'), ref('int_item_index'),
                            var('k', 10), 'cooccurrence') }}
#}
{% macro rank_candidates(candidates, users, items, k, source) -%}
WITH ranked AS (
    SELECT user_ix, item_ix, score, {{ rank_by('user_ix', 'score', 'item_ix') }} AS "rank"
    FROM {{ candidates }}
)
SELECT u.user_id, i.item_id, r.score, r."rank", {{ source | lit }} AS source
FROM ranked AS r
JOIN {{ users }} AS u ON u.user_ix = r.user_ix
JOIN {{ items }} AS i ON i.item_ix = r.item_ix
WHERE r."rank" <= {{ k | int }}
{%- endmacro %}


{#
  item_based_recommendations(ref, var, similarity, candidates, source, partitions_var=none,
                             affinity='int_user_affinity', affinity_column='affinity', similarity_column='similarity')
  The body of an item-based recommender stage (rec_cooccurrence, rec_content, rec_ease), list_depth(var) items per
  user, by vars.neighbour_scoring:
    "sparse" (default)  rank_candidates() over `candidates`, the stage's sparse scoring product (a Python stage)
    "sql"               neighbour_recommendations() over `affinity` and `similarity` (stage names), scoring users
                        in var(partitions_var) slices when a partitions var is named (1 otherwise)
  Pass the template's `ref` and `var`, so that the stages read are recorded as the stage's own.
  Usage: {{ item_based_recommendations(ref, var, 'int_item_similarity', 'int_cooccurrence_candidates',
                                       'cooccurrence', 'cooccurrence_score_partitions') }}
#}
{% macro item_based_recommendations(ref, var, similarity, candidates, source, partitions_var=none,
                                    affinity='int_user_affinity', affinity_column='affinity',
                                    similarity_column='similarity') -%}
{%- set scoring = var('neighbour_scoring', 'sparse') -%}
{%- set depth = list_depth(var) | int -%}
{%- if scoring == 'sparse' -%}
{{ rank_candidates(ref(candidates), ref('int_user_index'), ref('int_item_index'), depth, source) }}
{%- elif scoring == 'sql' -%}
{{ neighbour_recommendations(ref(affinity), ref(similarity), ref('int_user_index'), ref('int_item_index'),
                             depth, source, var(partitions_var, 1) if partitions_var else 1,
                             affinity_column, similarity_column) }}
{%- else -%}
{{ raise_error("vars.neighbour_scoring must be \"sparse\" (a SciPy product, the default) or \"sql\"") }}
{%- endif -%}
{%- endmacro %}
