-- Every accuracy metric per group of users: `history` (cold: no training events; warm: some) and each column of the
-- users input named in evaluate.slices, with the number of users behind each mean.
-- grain: one row per (model, k, slice, value)
-- unique: model, k, slice, value
-- columns:
--   model: the recommender
--   k: the cut-off
--   slice: the user attribute
--   value: its value
--   users: test users in the group
--   precision: mean precision@k
--   recall: mean recall@k
--   ndcg: mean NDCG@k
--   map: mean average precision (normalised by n_relevant)
--   mrr: mean reciprocal rank
--   hit_rate: share of users with a hit
WITH warm AS (SELECT DISTINCT user_id FROM {{ ref('eval_train') }}),
groups AS (
    SELECT m.user_id, 'history' AS slice,
           CASE WHEN w.user_id IS NULL THEN 'cold' ELSE 'warm' END AS value
    FROM (SELECT DISTINCT user_id FROM {{ ref('metrics_by_user') }}) AS m LEFT JOIN warm AS w ON w.user_id = m.user_id
{% if has_input('users') %}
{% for column in evaluation.slices %}
    UNION ALL
    SELECT user_id, {{ column | lit }} AS slice, CAST({{ column | ident }} AS VARCHAR) AS value FROM {{ source('users') }}
{% endfor %}
{% endif %}
)
SELECT m.model, m.k, g.slice, coalesce(g.value, '(none)') AS value, count(*) AS users,
       {% call exact_avg() %}m.precision{% endcall %} AS precision,
       {% call exact_avg() %}m.recall{% endcall %} AS recall,
       {% call exact_avg() %}m.ndcg{% endcall %} AS ndcg,
       {% call exact_avg() %}m."map"{% endcall %} AS "map",
       {% call exact_avg() %}m.mrr{% endcall %} AS mrr,
       {% call exact_avg() %}m.hit_rate{% endcall %} AS hit_rate
FROM {{ ref('metrics_by_user') }} AS m
JOIN groups AS g ON g.user_id = m.user_id
GROUP BY m.model, m.k, g.slice, coalesce(g.value, '(none)')
ORDER BY m.model, m.k, g.slice, value
