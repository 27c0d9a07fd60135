-- Truncated-SVD recommender (PureSVD): score(u, j) = (x_u V) . v_j, with V the item factors of a randomized SVD of
-- the user x item matrix (int_svd_item_factors) and x_u V the user's events folded into them
-- (int_svd_user_factors); items the user already had are removed; the k best per user, ties broken by the
-- smaller item id. Knobs: vars.svd_rank (64), svd_weighting (binary), svd_oversampling (10),
-- svd_power_iterations (7), svd_seed (42). vars.factor_scoring: "dense" (default: BLAS products a block of users at
-- a time, items by descending norm, each user stopping where no item left can reach their k-th best;
-- int_svd_candidates, ranked here) or "sql" (the dot products in SQL, most pairs skipped by exact bounds on the
-- norms: the same lists; macros/factors.sql). On Spark, "sql" keeps the scoring on the executors.
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: the dot product of the user's and the item's factors
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'svd'
{% set scoring = var('factor_scoring', 'dense') %}
{% set depth = list_depth(var) | int %}
{% if scoring == 'dense' %}
{{ rank_candidates(ref('int_svd_candidates'), ref('int_user_index'), ref('int_item_index'), depth, 'svd') }}
{% elif scoring == 'sql' %}
{{ factor_recommendations(ref('int_svd_user_factors'), ref('int_svd_item_factors'), ref('int_svd_matrix'),
                          ref('int_user_index'), ref('int_item_index'), depth, 'svd') }}
{% else %}
{{ raise_error("vars.factor_scoring must be \"dense\" (BLAS products, the default) or \"sql\"") }}
{% endif %}
