-- One row per evaluated model and k: accuracy averaged over test users, and, when an items input with categories
-- exists, coverage, exposure, novelty, popularity and diversity of the lists (formulas: macros/metrics.sql).
-- grain: one row per (model, k)
-- unique: model, k
WITH accuracy AS (
    SELECT model, k, count(*) AS users, avg(precision) AS precision, avg(recall) AS recall, avg(ndcg) AS ndcg,
           avg("map") AS "map", avg(map_at_k) AS map_at_k, avg(mrr) AS mrr, avg(hit_rate) AS hit_rate
    FROM {{ ref('metrics_by_user') }}
    GROUP BY model, k
)
{% if has_input('items') %}
, beyond AS (
{% for model in evaluation.models %}
{% set outer = loop %}
{% for k in evaluation.k %}
{% if not (outer.first and loop.first) %}UNION ALL {% endif %}
    SELECT {{ model | lit }} AS model, {{ k }} AS k, e.catalog_coverage, e.distributional_coverage, e.gini,
           b.novelty, b.avg_popularity, b.avg_popularity / b.profile_popularity - 1 AS popularity_lift,
           b.category_diversity, b.calibration_kl
    FROM ({{ exposure(model_lists(ref('eval_recs'), model), source('items'), k) }}) AS e
    CROSS JOIN (
        SELECT avg(novelty) AS novelty, avg(avg_popularity) AS avg_popularity,
               avg(profile_popularity) AS profile_popularity, avg(category_diversity) AS category_diversity,
               avg(calibration_kl) AS calibration_kl
        FROM ({{ beyond_accuracy_by_user(model_lists(ref('eval_recs'), model), ref('eval_train'), source('items'), k) }}) AS u
    ) AS b
{% endfor %}
{% endfor %}
)
SELECT a.*, b.catalog_coverage, b.distributional_coverage, b.gini, b.novelty, b.avg_popularity, b.popularity_lift,
       b.category_diversity, b.calibration_kl
FROM accuracy AS a JOIN beyond AS b ON b.model = a.model AND b.k = a.k
{% else %}
SELECT * FROM accuracy
{% endif %}
ORDER BY model, k
