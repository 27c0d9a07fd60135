-- Each user's affinity for each item they interacted with: the sum of their events' weights, each halved for every
-- half-life between the event and the newest event (SAR's time decay: w * min(1, 0.5^((t_now - t) / half_life))).
-- vars: cooccurrence_half_life_days (30; 0 = no decay), cooccurrence_max_history (200: each user's 200 items of
-- highest affinity, so that a few users with thousands of items do not square the pair count; 0 = every item, as
-- exact SAR, and what incremental refresh needs; vars.cooccurrence_exact = true gives 0 here and 0 neighbours).
-- Incremental refresh (sqlrec/refresh.py): when the events input only gained files since the last run, the
-- affinities are the last run's, decayed from its newest event to the new one, plus the new files' events: the same
-- sums, without reading the old events again.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: an item they interacted with
--   affinity: time-decayed sum of event weights
--   user_ix: the user's index (int_user_index)
--   item_ix: the item's index (int_item_index)
{% set half_life = var('cooccurrence_half_life_days', 30) %}
{% macro decay() -%}  {#- the weight left of an event at caller()'s time by the newest event, n.t_now #}
{% if half_life > 0 %}least(1.0, pow(0.5, (epoch(n.t_now) - epoch({{ caller() }}))
                                / ({{ half_life | float }} * 86400.0))){% else %}1.0{% endif %}
{%- endmacro %}
{% if refresh %}
WITH new_events AS (
    {{ staged_events(var, source('events'), refresh.new_files) }}
),
now AS (
    SELECT greatest(CAST({{ refresh.previous_t_now | lit }} AS TIMESTAMPTZ), max(ts)) AS t_now FROM new_events
),
decayed AS (
    SELECT p.user_id, p.item_id,
           p.affinity * {% call decay() %}CAST({{ refresh.previous_t_now | lit }} AS TIMESTAMPTZ){% endcall %} AS w
    FROM {{ refresh.previous_affinity }} AS p CROSS JOIN now AS n
    UNION ALL
    SELECT e.user_id, e.item_id, e.weight * {% call decay() %}e.ts{% endcall %} AS w
    FROM new_events AS e CROSS JOIN now AS n
),
{% else %}
WITH now AS (
    SELECT max(ts) AS t_now FROM {{ ref('stg_events') }}
),
decayed AS (
    SELECT e.user_id, e.item_id, e.weight * {% call decay() %}e.ts{% endcall %} AS w
    FROM {{ ref('stg_events') }} AS e CROSS JOIN now AS n
),
{% endif %}
affinity AS (
    SELECT user_id, item_id, sum(w) AS affinity FROM decayed GROUP BY user_id, item_id
),
kept AS (
{% set max_history = var('cooccurrence_max_history', 0 if var('cooccurrence_exact', false) else 200) | int %}
{% if max_history > 0 %}
    SELECT user_id, item_id, affinity FROM affinity
    QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY affinity DESC, item_id)
            <= {{ max_history }}
{% else %}
    SELECT user_id, item_id, affinity FROM affinity
{% endif %}
)
SELECT k.user_id, k.item_id, k.affinity, u.user_ix, i.item_ix
FROM kept AS k
JOIN {{ ref('int_user_index') }} AS u ON u.user_id = k.user_id
JOIN {{ ref('int_item_index') }} AS i ON i.item_id = k.item_id
