-- Top-k recommendations for every user, with where each came from and why. The table product pages, e-mail
-- campaigns and BI dashboards read. The personalised blend first, then the cold-start cascade; business rules,
-- re-ranking, caps and pins applied before the cut (rec_final).
-- grain: one row per (user_id, item_id)
-- inputs: rec_final, int_explanations, int_item_attributes, int_user_profile
-- unique: user_id, item_id
-- order_by: user_id, rank
-- not_null: user_id, item_id, rank, source, reason
-- columns:
--   user_id: the user
--   item_id: the recommended item
--   score: the recommender's score (higher is better; comparable within a source; NULL for a pinned item)
--   rank: position in the user's list, 1 = first, 1..k without gaps
--   source: the recommender that produced the row (cooccurrence, content, session, popularity, pinned, ...)
--   reason: a sentence a person can read, explaining the recommendation
WITH top_reason AS (
    SELECT user_id, item_id, kind, contributor, coalesce(title, 'item ' || contributor) AS label
    FROM {{ ref('int_explanations') }}
    WHERE position = 1
)
SELECT f.user_id, f.item_id, f.score, f.rank, f.source,
       CASE
           WHEN f.source = 'pinned' THEN 'Featured'
           WHEN f.source IN ('cooccurrence', 'ease') AND t.kind = 'item'
               THEN 'Customers who chose ' || t.label || ' also chose this'
           WHEN f.source = 'content' AND t.kind = 'item' THEN 'Similar to ' || t.label
           WHEN f.source = 'session' AND t.kind = 'item' THEN 'Goes with ' || t.label || ' from your last visit'
           WHEN f.source = 'svd' THEN 'Matches the taste your history shows'
           WHEN f.source = 'repurchase' THEN 'Buy again: you have bought it before'
           WHEN f.source = 'cross_sell' AND t.kind = 'category'
               THEN 'Completes your recent ' || t.contributor || ' purchase'
           WHEN f.source = 'segment_popularity' THEN 'Popular with ' || coalesce(p.segment, 'customers like you')
                                                     || ' customers'
           WHEN f.source = 'popularity' THEN 'Popular: ' || CAST(a.users AS VARCHAR) || ' customers chose it'
           ELSE 'Recommended by ' || f.source
       END AS reason
FROM {{ ref('rec_final') }} AS f
LEFT JOIN top_reason AS t ON t.user_id = f.user_id AND t.item_id = f.item_id
LEFT JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = f.item_id
LEFT JOIN {{ ref('int_user_profile') }} AS p ON p.user_id = f.user_id
