{#
  popular_recommendations(ref, var, source, has_input, by='all')
  Every user's most popular items that they have not interacted with yet, by vars.popularity_score (score,
  decayed_score, trending_score or smoothed_score): `by` "all" ranks items by their popularity among all users,
  "segment" among users of the user's own segment (int_segment_popularity). Users of the users input without any
  event get the most popular items. Lists are `list_depth(var)` long. A user who has seen n items needs at most the
  top depth + n popular items, so candidates are bounded per user. Pass the template's ref, var, source, has_input.
  Returns user_id, item_id, score, rank, source ('popularity').
#}
{% macro popular_recommendations(ref, var, source, has_input, by='all') -%}
{%- set depth = list_depth(var) -%}
{% set kind = var('popularity_score', 'score') %}
{% if kind not in ['score', 'decayed_score', 'trending_score', 'smoothed_score'] %}
{{ raise_error("vars.popularity_score must be score, decayed_score, trending_score or smoothed_score") }}
{% endif %}
{% if by not in ['all', 'segment'] %}
{{ raise_error("popular_recommendations(): by must be \"all\" or \"segment\"") }}
{% elif by == 'segment' and not has_input('users') %}
{{ raise_error("vars.popularity_by = \"segment\" needs a users input: add [inputs.users] with a segment column") }}
{% endif %}
WITH popularity AS (
{% if by == 'segment' %}
    SELECT segment, item_id, {{ kind | ident }} AS score,
           {{ rank_by('segment', kind, 'item_id') }} AS popularity_rank
    FROM {{ ref('int_segment_popularity') }}
{% else %}
    SELECT '(all)' AS segment, item_id, {{ kind | ident }} AS score,
           {{ rank_all_by(kind, 'item_id') }} AS popularity_rank
    FROM {{ ref('int_item_popularity') }}
{% endif %}
),
seen AS (
    SELECT DISTINCT user_id, item_id FROM {{ ref('stg_events') }}
),
all_users AS (
    SELECT user_id FROM seen
{% if has_input('users') %}
    UNION
    SELECT user_id FROM {{ source('users') }}
{% endif %}
),
history AS (
    SELECT u.user_id, count(s.item_id) AS n_seen
    FROM (SELECT DISTINCT user_id FROM all_users) AS u LEFT JOIN seen AS s ON s.user_id = u.user_id
    GROUP BY u.user_id
),
user_segment AS (
{% if by == 'segment' %}
    SELECT h.user_id, h.n_seen, coalesce(CAST(u.segment AS VARCHAR), '(none)') AS segment
    FROM history AS h LEFT JOIN {{ source('users') }} AS u ON u.user_id = h.user_id
{% else %}
    SELECT user_id, n_seen, '(all)' AS segment FROM history
{% endif %}
),
reaches AS (  -- how deep into the popular list a user may need to go; users share few distinct depths
    SELECT DISTINCT segment, {{ depth }} + n_seen AS reach FROM user_segment
),
reachable AS MATERIALIZED (  -- each distinct depth's items once, so that users join them on equality, not on a range
    SELECT r.segment, r.reach, p.item_id, p.score
    FROM reaches AS r
    JOIN popularity AS p ON p.segment = r.segment AND p.popularity_rank <= r.reach
),
candidates AS (
    SELECT h.user_id, p.item_id, p.score
    FROM user_segment AS h
    JOIN reachable AS p ON p.segment = h.segment AND p.reach = {{ depth }} + h.n_seen
    WHERE NOT EXISTS (SELECT 1 FROM seen AS s WHERE s.user_id = h.user_id AND s.item_id = p.item_id)
),
ranked AS (
    SELECT user_id, item_id, score, {{ rank_by('user_id', 'score', 'item_id') }} AS rank
    FROM candidates
)
SELECT user_id, item_id, score, rank, 'popularity' AS source
FROM ranked
WHERE rank <= {{ depth }}
{%- endmacro %}
