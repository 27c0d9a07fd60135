-- Every user sqlrec recommends for, with what the rules know about them: the table to slice recommendations by
-- segment in SQL and BI tools.
-- grain: one row per user with events, or in the users input
-- unique: user_id
-- order_by: user_id
-- not_null: user_id
-- columns:
--   user_id: the user
--   segment: their segment (NULL without a users input or a segment column)
--   typical_tier: the price tier they usually buy, as a position in vars.tier_order (0 = cheapest; NULL = unknown)
--   last_ts: their newest event (NULL without events)
SELECT user_id, segment, typical_tier, last_ts
FROM {{ ref('int_user_profile') }}
