-- The catalogue as it was at the time split's cut-off: during `sqlrec evaluate` (and `tune`, `experiment`) every
-- training stage reads this instead of the items input (source('items') is redirected here), so a backtest never
-- recommends an item before it could be bought. An item is available from the earlier of its `launched_at` (when the
-- items input maps one) and its first event in the data: an event before the stated launch (a preview, a
-- pre-order) shows it was available. An item with neither is not available.
-- Splits other than `time` have no cut-off and keep the whole catalogue. The other attributes (category, price,
-- in_stock, ...) are the input's, i.e. as of the data's end: the input has no history of them. Columns: those of
-- the items input (without one: item_id, the items of the training events).
-- grain: one row per row of the items input available before the cut-off
{% if has_input('items') %}
WITH cutoff AS (
    SELECT max(__cutoff) AS cutoff FROM {{ ref('eval_split') }}
),
first_seen AS (
    SELECT item_id, min(ts) AS first_ts FROM {{ ref('eval_split') }} GROUP BY item_id
)
SELECT i.*
FROM {{ source('items') }} AS i
CROSS JOIN cutoff AS c
LEFT JOIN first_seen AS f ON f.item_id = i.item_id
WHERE c.cutoff IS NULL OR least(i.launched_at, f.first_ts) < c.cutoff  -- least() skips a NULL
{% else %}
-- without an items input the catalogue is the items of the training events
SELECT DISTINCT item_id FROM {{ ref('eval_split') }} WHERE __split = 'train'
{% endif %}
