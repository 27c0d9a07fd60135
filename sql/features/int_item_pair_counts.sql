-- Item co-occurrence counts C = B^T B over the binary user x item matrix B, by item index: for each pair of items
-- the number of users who had both, and on the diagonal the users who had the item. C is symmetric, so each
-- unordered pair is counted once and stored once (item_ix < other_item_ix; int_item_cooccurrence shows the whole
-- matrix by item id). Every count is kept; int_item_similarity drops those below vars.cooccurrence_threshold (1).
-- vars.cooccurrence_counting: "sparse" (default) takes the counts from int_item_pair_counts_sparse, a SciPy product
-- a slice of items at a time on every core; "sql" counts here, a self-join of the baskets on the user and a GROUP BY
-- over every pair, in vars.cooccurrence_partitions (32) slices of items (item_ix modulo the count), each slice its
-- own aggregation: many small hash tables stay in the CPU cache where one large one does not. The counts are
-- integers, so both paths and every slicing give identical rows; the sparse path is the faster (bench/run.py,
-- "co-occurrence counts").
-- Incremental refresh (sqlrec/refresh.py), on either path: the counts are sums over users, so when the events input
-- only gained files, the last run's counts by item id get, for each user with items new to them, the pairs those
-- items make with the user's other items; only those users' baskets are read.
-- grain: one row per (item_ix, other_item_ix), item_ix <= other_item_ix
-- unique: item_ix, other_item_ix
-- columns:
--   item_ix: the item (int_item_index)
--   other_item_ix: the other item, not smaller than item_ix (equal on the diagonal)
--   users: users who had both
{% set counting = var('cooccurrence_counting', 'sparse') %}
{% set partitions = var('cooccurrence_partitions', 32) %}
{% if counting not in ('sparse', 'sql') %}
{{ raise_error("vars.cooccurrence_counting must be \"sparse\" (a SciPy product, the default) or \"sql\"") }}
{% endif %}
{% if partitions is not integer or partitions < 1 %}
{{ raise_error("vars.cooccurrence_partitions must be a whole number of at least 1 (1 = one aggregation)") }}
{% endif %}
{% if refresh %}
WITH new_baskets AS (
    SELECT DISTINCT user_id, item_id FROM ({{ staged_events(var, source('events'), refresh.new_files) }}) AS e
),
touched AS (SELECT DISTINCT user_id FROM new_baskets),
old_baskets AS (  -- what the users with new events had before
    SELECT p.user_id, p.item_id FROM {{ refresh.previous_affinity }} AS p
    WHERE p.user_id IN (SELECT user_id FROM touched)
),
added AS (  -- items new to their user
    SELECT n.user_id, n.item_id
    FROM new_baskets AS n LEFT JOIN old_baskets AS o ON o.user_id = n.user_id AND o.item_id = n.item_id
    WHERE o.user_id IS NULL
),
baskets AS (
    SELECT user_id, item_id, true AS was_there FROM old_baskets
    UNION ALL
    SELECT user_id, item_id, false FROM added
),
delta AS (  -- a pair is new when either item is; a pair of two new items is counted once
    SELECT least(a.item_id, b.item_id) AS item_id, greatest(a.item_id, b.item_id) AS other_item_id, count(*) AS users
    FROM added AS a JOIN baskets AS b ON b.user_id = a.user_id AND b.item_id <> a.item_id
    WHERE b.was_there OR b.item_id > a.item_id
    GROUP BY least(a.item_id, b.item_id), greatest(a.item_id, b.item_id)
    UNION ALL
    SELECT item_id, item_id, count(*) FROM added GROUP BY item_id
),
previous AS (
    SELECT item_id, other_item_id, users FROM {{ refresh.previous_pair_counts }}
),
counts AS (
    SELECT p.item_id, p.other_item_id, p.users + coalesce(d.users, 0) AS users
    FROM previous AS p LEFT JOIN delta AS d ON d.item_id = p.item_id AND d.other_item_id = p.other_item_id
    UNION ALL
    SELECT d.item_id, d.other_item_id, d.users
    FROM delta AS d LEFT JOIN previous AS p ON p.item_id = d.item_id AND p.other_item_id = d.other_item_id
    WHERE p.item_id IS NULL
)
SELECT i.item_ix, j.item_ix AS other_item_ix, CAST(c.users AS BIGINT) AS users
FROM counts AS c
JOIN {{ ref('int_item_index') }} AS i ON i.item_id = c.item_id
JOIN {{ ref('int_item_index') }} AS j ON j.item_id = c.other_item_id
{% elif counting == 'sparse' %}
SELECT item_ix, other_item_ix, users FROM {{ ref('int_item_pair_counts_sparse') }}
{% else %}
WITH baskets AS (
    SELECT user_ix, item_ix FROM {{ ref('int_user_affinity') }}
),
counted AS (
{% for part in range(partitions) %}
    SELECT a.item_ix, b.item_ix AS other_item_ix, count(*) AS users
    FROM baskets AS a JOIN baskets AS b ON b.user_ix = a.user_ix AND b.item_ix > a.item_ix
{% if partitions > 1 %}
    WHERE a.item_ix % {{ partitions }} = {{ part }}
{% endif %}
    GROUP BY a.item_ix, b.item_ix
    UNION ALL
{% endfor %}
    SELECT item_ix, item_ix, count(*) FROM baskets GROUP BY item_ix
)
SELECT item_ix, other_item_ix, users FROM counted
{% endif %}
