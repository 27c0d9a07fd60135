-- The TF-IDF vector of every catalogue item, from its title and description words and its category, brand, price
-- tier and tags (as attribute tokens such as category=shirts, tag=sci_fi). Tokens are lower-case runs of letters and digits of
-- length 2 or more. weight = tf x ln(N / df): tf = occurrences in the item (times vars.content_weights of its kind:
-- words, category, brand, tier or tags; 1 each by default), df = items with the token, N = items;
-- tokens in more than vars.content_max_df (0.5) of items are dropped as uninformative. Each vector is scaled to
-- unit length, so the dot product of two items is their cosine similarity. Empty without an items input.
-- grain: one row per (item_id, token)
-- unique: item_id, token
-- columns:
--   item_id: the item
--   token: a word or attribute token
--   weight: its L2-normalised TF-IDF weight
{% for kind in var('content_weights', {}) %}
{% if kind not in ['words', 'category', 'brand', 'tier', 'tags'] %}
{{ raise_error("vars.content_weights: unknown kind of token " ~ kind ~ "; the kinds are words, category, brand, tier, tags") }}
{% endif %}
{% endfor %}
{% if has_input('items') %}
WITH texts AS (
    SELECT item_id, lower(concat_ws(' ', title, description)) AS text, category, brand, price_tier, tags
    FROM {{ source('items') }}
),
tags AS (  -- tags are separated by commas, semicolons or pipes; the outer ones make the ends' spaces separators too
    SELECT item_id, unnest(string_split_regex(',' || tags || ',', '[ ]*[,;|][ ]*')) AS tag
    FROM texts WHERE tags IS NOT NULL
),
words AS (
    SELECT item_id, 'words' AS kind, unnest(string_split_regex(text, '[^a-z0-9]+')) AS token FROM texts
    UNION ALL SELECT item_id, 'category', 'category=' || lower(category) FROM texts WHERE category IS NOT NULL
    UNION ALL SELECT item_id, 'brand', 'brand=' || lower(brand) FROM texts WHERE brand IS NOT NULL
    UNION ALL SELECT item_id, 'tier', 'tier=' || lower(price_tier) FROM texts WHERE price_tier IS NOT NULL
    UNION ALL SELECT item_id, 'tags', 'tag=' || lower(tag) FROM tags WHERE tag <> ''
),
tf AS (  -- vars.content_weights scales each kind of token: words, category, brand, tier, tags (1 each)
    SELECT item_id, token,
           count(*){% if var('content_weights', {}) %} * CASE kind
{% for kind, weight in var('content_weights', {}).items() %}
               WHEN {{ kind | lit }} THEN {{ weight | float }}
{% endfor %}
               ELSE 1.0 END{% endif %} AS tf
    FROM words WHERE length(token) >= 2 GROUP BY item_id, token, kind
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
