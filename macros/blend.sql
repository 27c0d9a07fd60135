{#
  normalised_score(normalisation)
  A source's score for one user mapped onto [0, 1] so that sources can be added (window over user_id, source):
    rank    (n - rank + 1) / n, n = the user's list length from that source: 1 for the first item, 1/n for the last
    minmax  (score - min) / (max - min) over the user's list from that source; 1 when all scores are equal
#}
{% macro normalised_score(normalisation) -%}
{%- if normalisation == 'rank' -%}
(count(*) OVER (PARTITION BY user_id, source) - rank + 1) / CAST(count(*) OVER (PARTITION BY user_id, source) AS DOUBLE)
{%- elif normalisation == 'minmax' -%}
CASE WHEN max(score) OVER (PARTITION BY user_id, source) = min(score) OVER (PARTITION BY user_id, source) THEN 1.0
     ELSE (score - min(score) OVER (PARTITION BY user_id, source))
          / (max(score) OVER (PARTITION BY user_id, source) - min(score) OVER (PARTITION BY user_id, source))
END
{%- else -%}
{{ raise_error("vars.blend_normalisation must be \"rank\" or \"minmax\"") }}
{%- endif -%}
{%- endmacro %}
