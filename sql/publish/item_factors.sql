-- The SVD model's item factors, one row per item and dimension, for analysts (similar items by cosine, clusters,
-- embeddings in a BI tool). Off by default, because it fits the model: turn it on with
-- [stages.item_factors] enabled = true.
-- enabled: false
-- grain: one row per (item_id, dim)
-- inputs: int_svd_item_factors, int_item_index
-- unique: item_id, dim
-- not_null: item_id, dim, value
-- columns:
--   item_id: the item
--   dim: the factor's dimension, 1 = the largest singular value
--   value: the item's coordinate on it (columns of V: unit length over all items)
SELECT i.item_id, CAST(f.dim AS BIGINT) AS dim, f.value  -- BIGINT: Spark numbers positions as INT
FROM {{ ref('int_svd_item_factors') }} AS v, unnest(v.factors) WITH ORDINALITY AS f(value, dim)
JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = v.item_ix
