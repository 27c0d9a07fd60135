{#
  event_weight(weights, default=1)
  The weight of an event from its type, e.g. {"view": 1, "cart": 3, "purchase": 5}.
  Types not in `weights` get `default`. Keys are printed as literals, so any type name is safe.
  Usage: {{ event_weight(var('event_weights', {'view': 1, 'purchase': 5})) }} AS weight
#}
{% macro event_weight(weights, default=1) -%}
{%- if weights is not mapping or not weights -%}
{{ raise_error("event_weight(weights): weights must be a non-empty table such as {view = 1, purchase = 5}") }}
{%- endif -%}
CASE "event_type"
{%- for event_type, weight in weights | dictsort %} WHEN {{ event_type | lit }} THEN {{ weight | float }}{% endfor %}
 ELSE {{ default | float }} END
{%- endmacro %}
