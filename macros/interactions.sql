{#
  interaction_matrix(ref, var, model)
  The user x item matrix a factor or linear model learns from, one row per (user_ix, item_ix) with events, its
  value chosen by vars.<model>_weighting:
    binary    1 (the default: implicit feedback, what EASE and PureSVD are usually given)
    count     the number of events
    weight    the sum of the events' weights (vars.event_weights, or the input's own weight)
    affinity  the same, each event halved per vars.<model>_half_life_days (30) before the newest event
    log       ln(1 + sum of weights): damps heavy repeat interactions
    bm25      BM25 as implicit's bm25_weight: w (K1 + 1) / (K1 ((1 - B) + B len(u) / avg len) + w) x
              ln(users / (1 + users of the item)), len(u) = the user's total weight, with K1 =
              vars.<model>_bm25_k1 (100) and B = vars.<model>_bm25_b (0.8)
  Pass the template's `ref` and `var`. Usage: {{ interaction_matrix(ref, var, 'svd') }}
#}
{% macro interaction_matrix(ref, var, model) -%}
{%- set weighting = var(model ~ '_weighting', 'binary') -%}
{%- if weighting not in ['binary', 'count', 'weight', 'affinity', 'log', 'bm25'] -%}
{{ raise_error("vars." ~ model ~ "_weighting must be binary, count, weight, affinity, log or bm25") }}
{%- endif -%}
WITH now AS (
    SELECT max(ts) AS t_now FROM {{ ref('stg_events') }}
),
per_pair AS (
    SELECT u.user_ix, i.item_ix, count(*) AS events, sum(e.weight) AS weight,
           sum(e.weight * least(1.0, pow(0.5, (epoch(n.t_now) - epoch(e.ts))
                                     / ({{ var(model ~ '_half_life_days', 30) | float }} * 86400.0)))) AS affinity
    FROM {{ ref('stg_events') }} AS e
    CROSS JOIN now AS n
    JOIN {{ ref('int_user_index') }} AS u ON u.user_id = e.user_id
    JOIN {{ ref('int_item_index') }} AS i ON i.item_id = e.item_id
    GROUP BY u.user_ix, i.item_ix
){% if weighting == 'bm25' %},
lengths AS (
    SELECT user_ix, sum(weight) AS length FROM per_pair GROUP BY user_ix
),
average AS (
    SELECT avg(length) AS avg_length, count(*) AS n_users FROM lengths
),
idf AS (
    SELECT p.item_ix, ln(a.n_users / (1.0 + count(*))) AS idf
    FROM per_pair AS p CROSS JOIN average AS a
    GROUP BY p.item_ix, a.n_users
)
{%- set k1 = var(model ~ '_bm25_k1', 100) | float -%}
{%- set b = var(model ~ '_bm25_b', 0.8) | float %}

SELECT p.user_ix, p.item_ix,
       CAST(p.weight * ({{ k1 }} + 1.0)
            / ({{ k1 }} * ((1.0 - {{ b }}) + {{ b }} * l.length / a.avg_length) + p.weight) * d.idf AS DOUBLE) AS value
FROM per_pair AS p
JOIN lengths AS l ON l.user_ix = p.user_ix
JOIN idf AS d ON d.item_ix = p.item_ix
CROSS JOIN average AS a
{%- else %}

SELECT user_ix, item_ix, CAST(
{%- if weighting == 'binary' %} 1
{%- elif weighting == 'count' %} events
{%- elif weighting == 'weight' %} weight
{%- elif weighting == 'affinity' %} affinity
{%- else %} ln(1.0 + weight)
{%- endif %} AS DOUBLE) AS value
FROM per_pair
{%- endif %}
{%- endmacro %}
