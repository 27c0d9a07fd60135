-- One row per evaluated model and k: accuracy averaged over test users, and, when an items input with categories
-- exists, coverage, exposure, novelty, popularity and diversity of the lists (formulas: macros/metrics.sql; NULL
-- without an items input). Means are exact decimal sums (exact_avg), so reruns agree to the bit.
-- grain: one row per (model, k)
-- unique: model, k
-- order_by: model, k
-- columns:
--   model: the recommender (stage rec_<model>)
--   k: the cut-off
--   users: test users scored
--   precision: mean precision@k
--   recall: mean recall@k
--   ndcg: mean NDCG@k
--   map: mean average precision, normalised by the user's test items
--   map_at_k: mean average precision, normalised by min(k, test items)
--   mrr: mean reciprocal rank of the first hit
--   hit_rate: share of users with a hit
--   catalog_coverage: share of catalogue items in any list
--   distributional_coverage: entropy of the items' exposure, in bits
--   gini: Gini index of the items' exposure (0 = even, 1 = one item)
--   novelty: mean -log2(share of training users who had the item)
--   avg_popularity: mean training interactions of the listed items
--   popularity_lift: avg_popularity over the users' own profile popularity, minus 1
--   category_diversity: mean share of list pairs from different categories
--   calibration_kl: mean KL divergence of the lists' categories from the users' history
WITH accuracy AS (
    SELECT model, k, count(*) AS users,
           {% call exact_avg() %}precision{% endcall %} AS precision,
           {% call exact_avg() %}recall{% endcall %} AS recall,
           {% call exact_avg() %}ndcg{% endcall %} AS ndcg,
           {% call exact_avg() %}"map"{% endcall %} AS "map",
           {% call exact_avg() %}map_at_k{% endcall %} AS map_at_k,
           {% call exact_avg() %}mrr{% endcall %} AS mrr,
           {% call exact_avg() %}hit_rate{% endcall %} AS hit_rate
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
    FROM ({{ exposure(model_lists(ref('eval_recs'), model), ref('eval_items'), k) }}) AS e
    CROSS JOIN (
        SELECT {% call exact_avg() %}novelty{% endcall %} AS novelty,
               {% call exact_avg() %}avg_popularity{% endcall %} AS avg_popularity,
               {% call exact_avg() %}profile_popularity{% endcall %} AS profile_popularity,
               {% call exact_avg() %}category_diversity{% endcall %} AS category_diversity,
               {% call exact_avg() %}calibration_kl{% endcall %} AS calibration_kl
        FROM ({{ beyond_accuracy_by_user(model_lists(ref('eval_recs'), model), ref('eval_train'), ref('eval_items'), k) }}) AS u
    ) AS b
{% endfor %}
{% endfor %}
)
SELECT a.*, b.catalog_coverage, b.distributional_coverage, b.gini, b.novelty, b.avg_popularity, b.popularity_lift,
       b.category_diversity, b.calibration_kl
FROM accuracy AS a JOIN beyond AS b ON b.model = a.model AND b.k = a.k
{% else %}
SELECT *, CAST(NULL AS DOUBLE) AS catalog_coverage, CAST(NULL AS DOUBLE) AS distributional_coverage,
       CAST(NULL AS DOUBLE) AS gini, CAST(NULL AS DOUBLE) AS novelty, CAST(NULL AS DOUBLE) AS avg_popularity,
       CAST(NULL AS DOUBLE) AS popularity_lift, CAST(NULL AS DOUBLE) AS category_diversity,
       CAST(NULL AS DOUBLE) AS calibration_kl
FROM accuracy
{% endif %}
ORDER BY model, k
