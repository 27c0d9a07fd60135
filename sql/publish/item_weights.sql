-- The EASE model's item x item weights B: how much having item_id raises (or lowers, when negative) the score of
-- other_item_id. Nonzero weights only; each item's vars.ease_neighbours largest when that is set. Off by default,
-- because it fits the model: turn it on with [stages.item_weights] enabled = true.
-- enabled: false
-- grain: one row per (item_id, other_item_id)
-- inputs: int_ease_weights, int_item_index
-- unique: item_id, other_item_id
-- not_null: item_id, other_item_id, weight
-- columns:
--   item_id: the item a user has
--   other_item_id: the item scored
--   weight: B[item, other item]; score(user, other) = sum over the user's items of value x weight
SELECT i.item_id, j.item_id AS other_item_id, w.weight
FROM {{ ref('int_ease_weights') }} AS w
JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = w.item_ix
JOIN {{ ref('int_item_index') }} AS j ON j.item_ix = w.other_item_ix
