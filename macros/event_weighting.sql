{#
  weight_of_event(var)
  An event's weight: its own `weight` column when set, else the weight of its type from vars.event_weights
  (default {view = 1, cart = 3, purchase = 5}). Pass the template's `var`, so the default lives in one place.
  In its own file so that a project's own event_weight() macro, which overrides the built-in, is the one used.
  Usage: {{ weight_of_event(var) }} AS weight
#}
{% macro weight_of_event(var) -%}
coalesce(weight, {{ event_weight(var('event_weights', {'view': 1, 'cart': 3, 'purchase': 5})) }})
{%- endmacro %}
