-- The SVD model's user factors (each user's events folded into the item factors, x_u V), one row per user and
-- dimension. Off by default, because it fits the model: turn it on with [stages.user_factors] enabled = true.
-- enabled: false
-- grain: one row per (user_id, dim)
-- inputs: int_svd_user_factors, int_user_index
-- unique: user_id, dim
-- not_null: user_id, dim, value
-- columns:
--   user_id: the user
--   dim: the factor's dimension, as in item_factors
--   value: the user's coordinate on it; score(user, item) = sum over dim of user value x item value
SELECT u.user_id, CAST(f.dim AS BIGINT) AS dim, f.value  -- BIGINT: Spark numbers positions as INT
FROM {{ ref('int_svd_user_factors') }} AS v, unnest(v.factors) WITH ORDINALITY AS f(value, dim)
JOIN {{ ref('int_user_index') }} AS u ON u.user_ix = v.user_ix
