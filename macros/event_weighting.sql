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


{#
  staged_events(var, events, new_files=none)
  The rows of stg_events from an events relation (normally source('events')): typed, weighted, without rows that
  lack a user, an item or a time. Pass the template's `var`. new_files: only the rows read from these files (the input's `__file` column, kept
  by an incremental refresh), i.e. the events that arrived since the last run.
#}
{% macro staged_events(var, events, new_files=none) -%}
SELECT
    user_id,
    item_id,
    CAST(ts AS TIMESTAMPTZ) AS ts,
    coalesce(CAST(event_type AS VARCHAR), 'event') AS event_type,
    CAST({{ weight_of_event(var) }} AS DOUBLE) AS weight,
    CAST(session_id AS VARCHAR) AS session_id
FROM {{ events }}
WHERE user_id IS NOT NULL
  AND item_id IS NOT NULL
  AND ts IS NOT NULL
{%- if new_files is not none %}
  AND "__file" IN {{ new_files | lit }}
{%- endif %}
{%- endmacro %}
