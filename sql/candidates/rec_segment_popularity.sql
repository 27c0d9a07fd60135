-- The items most popular with the user's own segment that the user has not interacted with yet: the cold-start
-- cascade's step before global popularity. Needs a users input with a segment (empty otherwise); users without a
-- segment form the segment '(none)'. Same scores as rec_popularity (vars.popularity_score).
-- grain: one row per (user_id, item_id)
-- unique: user_id, item_id
-- columns:
--   user_id: the user
--   item_id: a recommended item
--   score: the item's popularity within the user's segment
--   rank: 1 = best, in score order, ties broken by item_id
--   source: 'popularity'
{% if has_input('users') %}
{{ popular_recommendations(ref, var, source, has_input, 'segment') }}
{% else %}
SELECT CAST(NULL AS BIGINT) AS user_id, CAST(NULL AS BIGINT) AS item_id, CAST(NULL AS DOUBLE) AS score,
       CAST(NULL AS BIGINT) AS rank, 'popularity' AS source
WHERE false
{% endif %}
