-- The lists of every evaluated recommender (evaluate.models: stage rec_<model>), trained on the training split.
-- grain: one row per (model, user_id, item_id)
-- unique: model, user_id, item_id
-- columns:
--   model: the recommender
--   user_id: the user
--   item_id: the recommended item
--   score: its score
--   rank: its rank in the user's list
{% for model in evaluation.models %}
{% if not loop.first %}UNION ALL {% endif %}
SELECT {{ model | lit }} AS model, user_id, item_id, score, rank FROM {{ ref('rec_' ~ model) }}
{% endfor %}
