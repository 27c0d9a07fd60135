{#
  model_lists(recs, model)
  The lists of one model from eval_recs, as a subquery usable wherever a metric macro takes `recs`.
#}
{% macro model_lists(recs, model) -%}
(SELECT user_id, item_id, rank FROM {{ recs }} WHERE model = {{ model | lit }}) AS model_lists
{%- endmacro %}
