-- Which categories go with which: for every pair of different categories (A, B), how much likelier a customer who
-- bought in A buys in B within the next vars.cross_sell_days (14) than customers at large (lift). Mined from the
-- purchase sequences, so it finds suits -> shirts -> ties and dresses -> shoes -> handbags without being told. Each
-- category keeps its vars.cross_sell_categories (2) strongest followers with at least vars.cross_sell_min_users (3)
-- users behind them. Empty without item categories.
-- grain: one row per (category, next_category)
-- inputs: stg_events, int_item_attributes
-- unique: category, next_category
-- columns:
--   category: the category bought first
--   next_category: a category bought after it
--   users: customers who bought in category and then, within the window, in next_category
--   lift: P(next_category after category) / P(next_category)
--   rank: 1 = the strongest follower, ties broken by next_category
WITH purchases AS (
    SELECT DISTINCT e.user_id, a.category, e.ts
    FROM {{ ref('stg_events') }} AS e
    JOIN {{ ref('int_item_attributes') }} AS a ON a.item_id = e.item_id
    WHERE e.event_type IN {{ var('purchase_events', ['purchase']) | lit }} AND a.category IS NOT NULL
),
followed AS (
    SELECT a.category, b.category AS next_category, count(DISTINCT a.user_id) AS users
    FROM purchases AS a
    JOIN purchases AS b
      ON b.user_id = a.user_id AND b.category <> a.category AND b.ts > a.ts
     AND b.ts <= a.ts + to_days({{ var('cross_sell_days', 14) | int }})
    GROUP BY a.category, b.category
),
buyers AS (
    SELECT category, count(DISTINCT user_id) AS users FROM purchases GROUP BY category
),
everyone AS (
    SELECT count(DISTINCT user_id) AS users FROM purchases
),
lifted AS (
    SELECT f.category, f.next_category, f.users,
           (f.users / CAST(a.users AS DOUBLE)) / (b.users / CAST(n.users AS DOUBLE)) AS lift
    FROM followed AS f
    JOIN buyers AS a ON a.category = f.category
    JOIN buyers AS b ON b.category = f.next_category
    CROSS JOIN everyone AS n
    WHERE f.users >= {{ var('cross_sell_min_users', 3) | int }}
),
ranked AS (
    SELECT *, {{ rank_by('category', 'lift', 'next_category') }} AS rank FROM lifted
)
SELECT category, next_category, users, lift, rank FROM ranked
WHERE rank <= {{ var('cross_sell_categories', 2) | int }}
