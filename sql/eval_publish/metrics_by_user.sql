-- Accuracy of every evaluated model for every test user, at every k of evaluate.k (formulas: macros/metrics.sql).
-- A test user without a list scores 0.
-- grain: one row per (model, k, user_id)
-- inputs: eval_recs, eval_test
-- unique: model, k, user_id
-- columns:
--   model: the recommender
--   k: the cut-off
--   user_id: the test user
--   n_relevant: the user's test items
--   hits: test items in the first k
--   precision: hits / k
--   recall: hits / n_relevant
--   ndcg: NDCG@k (binary gain, or 2^relevance - 1 with evaluate.graded)
--   map: average precision normalised by n_relevant (Recommenders' "MAP")
--   map_at_k: average precision normalised by min(k, n_relevant) (Recommenders' map_at_k)
--   mrr: 1 / first hit position
--   hit_rate: 1 if any hit
{% for model in evaluation.models %}
{% set outer = loop %}
{% for k in evaluation.k %}
{% if not (outer.first and loop.first) %}UNION ALL {% endif %}
SELECT {{ model | lit }} AS model, {{ k }} AS k, m.*
FROM ({{ accuracy_by_user(model_lists(ref('eval_recs'), model), ref('eval_test'), k, evaluation.graded) }}) AS m
{% endfor %}
{% endfor %}
