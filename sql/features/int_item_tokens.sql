-- The TF-IDF vector of every catalogue item, from its title and description words and its category, brand and
-- price tier (as attribute tokens such as category=shirts). Tokens are lower-case runs of letters and digits of
-- length 2 or more. weight = tf x ln(N / df): tf = occurrences in the item, df = items with the token, N = items;
-- tokens in more than vars.content_max_df (0.5) of items are dropped as uninformative. Each vector is scaled to
-- unit length, so the dot product of two items is their cosine similarity. Empty without an items input.
-- grain: one row per (item_id, token)
-- unique: item_id, token
-- columns:
--   item_id: the item
--   token: a word or attribute token
--   weight: its L2-normalised TF-IDF weight
{% if has_input('items') %}
WITH texts AS (
    SELECT item_id, lower(concat_ws(' ', title, description)) AS text, category, brand, price_tier
    FROM {{ source('items') }}
),
words AS (
    SELECT item_id, unnest(string_split_regex(text, '[^a-z0-9]+')) AS token FROM texts
    UNION ALL SELECT item_id, 'category=' || lower(category) FROM texts WHERE category IS NOT NULL
    UNION ALL SELECT item_id, 'brand=' || lower(brand) FROM texts WHERE brand IS NOT NULL
    UNION ALL SELECT item_id, 'tier=' || lower(price_tier) FROM texts WHERE price_tier IS NOT NULL
),
tf AS (
    SELECT item_id, token, count(*) AS tf FROM words WHERE length(token) >= 2 GROUP BY item_id, token
),
n AS (SELECT count(DISTINCT item_id) AS n_items FROM {{ source('items') }}),
df AS (SELECT token, count(*) AS df FROM tf GROUP BY token),
weighted AS (
    SELECT tf.item_id, tf.token, tf.tf * ln(n.n_items / CAST(df.df AS DOUBLE)) AS w
    FROM tf JOIN df ON df.token = tf.token CROSS JOIN n
    WHERE df.df <= {{ var('content_max_df', 0.5) | float }} * n.n_items AND df.df < n.n_items
),
norms AS (SELECT item_id, sqrt({% call exact_sum() %}w * w{% endcall %}) AS norm FROM weighted GROUP BY item_id)
SELECT w.item_id, w.token, w.w / n.norm AS weight
FROM weighted AS w JOIN norms AS n ON n.item_id = w.item_id
WHERE n.norm > 0
{% else %}
SELECT CAST(NULL AS BIGINT) AS item_id, CAST(NULL AS VARCHAR) AS token, CAST(NULL AS DOUBLE) AS weight WHERE false
{% endif %}
