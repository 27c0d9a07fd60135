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
