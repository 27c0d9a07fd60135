-- Why each recommendation is there: its largest contributors and their share of its score (int_explanations).
-- `sqlrec explain --user U --item I` prints these rows for one recommendation.
-- grain: one row per (user_id, item_id, kind, contributor)
-- inputs: int_explanations, rec_final
-- unique: user_id, item_id, kind, contributor
-- order_by: user_id, rank, position
-- not_null: user_id, item_id, kind, contributor, share, position
-- columns:
--   user_id: the user
--   item_id: the recommended item
--   rank: the item's rank in the user's list
--   source: the source of this part of the score
--   kind: item (a history item), factors, purchase, category, segment, popularity or pin
--   contributor: the history item's id, the category, the segment, ...
--   title: the history item's title, when it has one
--   share: its share of the score (the shares of one recommendation sum to at most 1)
--   position: 1 = the largest share
SELECT e.user_id, e.item_id, f.rank, e.source, e.kind, e.contributor, e.title, e.share, e.position
FROM {{ ref('int_explanations') }} AS e
JOIN {{ ref('rec_final') }} AS f ON f.user_id = e.user_id AND f.item_id = e.item_id
