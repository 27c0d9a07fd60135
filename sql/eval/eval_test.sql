-- The held-out truth: one row per (user, item) the user interacted with in the test split, with the strongest
-- weight as relevance. Optionally only some event types count (evaluate.relevant_events), and items the user already
-- had in training are dropped (evaluate.exclude_seen), since recommenders never show them. An item whose strongest
-- test event weighs 0 or less (an impression, a return) is not relevant: the user did not show they wanted it.
-- grain: one row per (user_id, item_id)
-- inputs: eval_split
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a relevant item
--   relevance: the largest weight of the user's test events on the item (as stg_events weighs them)
SELECT user_id, item_id,
       max({{ weight_of_event(var) }}) AS relevance
FROM {{ ref('eval_split') }} AS s
WHERE __split = 'test'
{% if evaluation.relevant_events %}
  AND event_type IN {{ evaluation.relevant_events | lit }}
{% endif %}
{% if evaluation.exclude_seen %}
  AND NOT EXISTS (SELECT 1 FROM {{ ref('eval_split') }} AS t
                  WHERE t.__split = 'train' AND t.user_id = s.user_id AND t.item_id = s.item_id)
{% endif %}
GROUP BY user_id, item_id
HAVING max({{ weight_of_event(var) }}) > 0
