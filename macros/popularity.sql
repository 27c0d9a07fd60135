{#
  popularity_scores(var, group_column=none)   -- called with {% call %}: the caller's SQL is the events relation
  Item popularity, in every form the popularity recommender can rank by, from the events the caller selects
  (user_id, item_id, ts, weight, plus `group_column` when given), per item or per (group, item):
    score           sum of event weights
    users, events   distinct users, number of events
    decayed_score   each weight halved per vars.popularity_half_life_days (14) before the newest event of all
    trending_score  (weight in the last vars.trending_days (7) + m) / (weight in the window before + m), with
                    m = vars.popularity_prior (5): how much faster an item is selling now than just before
    smoothed_score  Bayesian average weight per user: (users x mean + m x the group's mean) / (users + m), so that
                    an item with few users is pulled towards the average item of its group
  Time windows are measured from the newest event overall, so every group is scored at the same moment.
  Usage: {% call popularity_scores(var) %}
           SELECT user_id, item_id, ts, weight FROM {{ ref('stg_events') }}
         {% endcall %}
#}
{% macro popularity_scores(var, group_column=none) -%}
{%- set prior = var('popularity_prior', 5) | float -%}
{%- set days = var('trending_days', 7) | int -%}
WITH scored_events AS (
    {{ caller() }}
),
now AS (SELECT max(ts) AS t_now FROM scored_events),
per_item AS (
    SELECT {% if group_column %}e.{{ group_column | ident }}, {% endif %}e.item_id,
           sum(e.weight) AS score,
           count(DISTINCT e.user_id) AS users,
           count(*) AS events,
           sum(e.weight * pow(0.5, (epoch(n.t_now) - epoch(e.ts))
                                   / ({{ var('popularity_half_life_days', 14) | float }} * 86400.0))) AS decayed_score,
           sum(CASE WHEN e.ts > n.t_now - to_days({{ days }}) THEN e.weight ELSE 0 END) AS recent,
           sum(CASE WHEN e.ts <= n.t_now - to_days({{ days }})
                     AND e.ts > n.t_now - to_days(2 * {{ days }}) THEN e.weight ELSE 0 END) AS earlier
    FROM scored_events AS e CROSS JOIN now AS n
    GROUP BY {% if group_column %}e.{{ group_column | ident }}, {% endif %}e.item_id
),
prior AS (
    SELECT {% if group_column %}{{ group_column | ident }}, {% endif %}sum(score) / sum(users) AS mean_per_user
    FROM per_item{% if group_column %} GROUP BY {{ group_column | ident }}{% endif %}
)
SELECT {% if group_column %}i.{{ group_column | ident }}, {% endif %}
       i.item_id, i.score, i.users, i.events, i.decayed_score,
       (i.recent + {{ prior }}) / (i.earlier + {{ prior }}) AS trending_score,
       (i.score + {{ prior }} * p.mean_per_user) / (i.users + {{ prior }}) AS smoothed_score
FROM per_item AS i
{% if group_column %}
JOIN prior AS p ON p.{{ group_column | ident }} = i.{{ group_column | ident }}
{% else %}
CROSS JOIN prior AS p
{% endif %}
{%- endmacro %}
