{#
  rank_by(partition_by, score, tiebreak)
  A deterministic ranking: row_number() over `partition_by`, highest `score` first, ties broken by `tiebreak`
  (a unique key, so every rerun and every engine gives the same order). Arguments are column names.
  Usage: {{ rank_by('user_id', 'score', 'item_id') }} AS rank
#}
{% macro rank_by(partition_by, score, tiebreak) -%}
row_number() OVER (PARTITION BY {{ partition_by | ident }} ORDER BY {{ score | ident }} DESC, {{ tiebreak | ident }})
{%- endmacro %}

{#
  rank_all_by(score, tiebreak): the same over the whole relation (no partition).
#}
{% macro rank_all_by(score, tiebreak) -%}
row_number() OVER (ORDER BY {{ score | ident }} DESC, {{ tiebreak | ident }})
{%- endmacro %}

{#
  top_k(relation, partition_by, score, tiebreak, k)
  The k rows of highest `score` in each `partition_by` group of `relation`, ties broken by the smaller `tiebreak`
  (a unique key within the group), with their `rank` (1..k) added. The same rows and ranks as
      SELECT *, row_number() OVER (PARTITION BY p ORDER BY score DESC, tiebreak) AS rank FROM relation
      QUALIFY rank <= k
  but much faster on many rows per group: the top-k aggregate max(score, k) first finds each group's k-th highest
  score, so the exact ranking sorts only the rows at or above it (k, plus ties) instead of every row.
    relation      the name of a CTE, which must be `AS MATERIALIZED` (or a stage): both reads must see the same
                  floating-point scores, and a parallel sum computed twice can differ in its last bits
    partition_by, score, tiebreak   column names; `score` must not be NULL
    k             a whole number of at least 1
  Usage: ranked AS ({{ top_k('unseen', 'user_ix', 'score', 'item_ix', var('k', 10)) }})
#}
{% macro top_k(relation, partition_by, score, tiebreak, k) -%}
{%- if k is not integer or k < 1 -%}
{{ raise_error("top_k(): k must be a whole number of at least 1") }}
{%- endif -%}
SELECT r.*,
       row_number() OVER (PARTITION BY r.{{ partition_by | ident }}
                          ORDER BY r.{{ score | ident }} DESC, r.{{ tiebreak | ident }}) AS "rank"
FROM {{ relation | ident }} AS r
JOIN (
    SELECT {{ partition_by | ident }}, list_min(max({{ score | ident }}, {{ k }})) AS kth_score
    FROM {{ relation | ident }}
    GROUP BY {{ partition_by | ident }}
) AS kth ON kth.{{ partition_by | ident }} = r.{{ partition_by | ident }}
WHERE r.{{ score | ident }} >= kth.kth_score
QUALIFY "rank" <= {{ k }}
{%- endmacro %}

{#
  list_depth(var)
  How many items each recommender lists per user: vars.k (10), or vars.candidates when that is larger. The final
  list keeps k, so candidates deeper than k leave room for business rules and re-ranking to drop items and still
  fill k slots. Pass the template's `var`.
#}
{% macro list_depth(var) -%}
{{ [var('k', 10) | int, var('candidates', 0) | int] | max }}
{%- endmacro %}
