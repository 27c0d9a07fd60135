{#
  Offline evaluation metrics. Each macro returns one SELECT (use it as a subquery: FROM ({{ ... }}) AS m).

  Inputs, by contract:
    recs  (user_id, item_id, rank)               a ranked list per user; rank 1 = first. Positions are
                                                 row_number() OVER (PARTITION BY user_id ORDER BY rank, item_id), so
                                                 tied ranks are broken by the smaller item_id, and only positions
                                                 1..k count. A list may be shorter than k.
    test  (user_id, item_id[, relevance])        the held-out items; duplicates of (user_id, item_id) count once
                                                 (with their largest relevance). Binary metrics: every test item is
                                                 relevant. Graded (graded=true): an item is relevant only when its
                                                 relevance is above 0; relevance 0, negative or NULL means "seen but
                                                 not wanted", so it is no hit, adds no gain and is not counted in
                                                 n_relevant (a user left with no relevant item is not a test user).
    A list that names an item twice counts it once, at its first position (sqlrec.metrics.score_lists refuses such
    lists; the pipeline's lists are unique per user and item).
    train (user_id, item_id)                     the training interactions (for popularity, novelty, calibration).
    items (item_id, category)                    the catalogue (for coverage and category metrics).

  Users: accuracy metrics are computed for every user with at least one test item. A test user without a list
  scores 0 on every accuracy metric (Microsoft Recommenders drops such users instead; with a list for every test
  user, as in its benchmarks, the two agree).
#}

{#
  {% call exact_sum() %}expr{% endcall %}
  The sum of a double expression in exact decimal arithmetic (15 decimals; each value is rounded to 1e-15 first).
  A parallel engine adds doubles in whatever order its threads finish, so a plain sum can differ in the last bits
  between reruns; decimal sums are associative, so every rerun, thread count and engine gives the same bits.
#}
{% macro exact_sum() -%}
CAST(sum(CAST({{ caller() }} AS DECIMAL(38, 15))) AS DOUBLE)
{%- endmacro %}

{#
  {% call exact_avg() %}expr{% endcall %}
  The mean of a double expression, from the same exact decimal sum as exact_sum.
#}
{% macro exact_avg() -%}
CAST(avg(CAST({{ caller() }} AS DECIMAL(38, 15))) AS DOUBLE)
{%- endmacro %}


{#
  accuracy_by_user(recs, test, k, graded=false)
  One row per test user: user_id, n_relevant, hits, precision, recall, ndcg, map, map_at_k, mrr, hit_rate.

    hits       = number of positions 1..k whose item is in the user's test items
    precision  = hits / k                                  (k even when the list is shorter, as Recommenders does)
    recall     = hits / n_relevant
    ndcg       = DCG / IDCG. Binary gain: DCG = sum over hit positions p of 1 / log2(p + 1);
                 IDCG = sum over p = 1 .. min(k, n_relevant) of 1 / log2(p + 1).
                 graded=true: gain = 2^relevance - 1, and IDCG uses the user's min(k, n) largest gains.
    map        = (sum over hit positions p of hits_at_or_above(p) / p) / n_relevant
                 ("MAP" in Recommenders' python_evaluation, trec_eval map_cut_k, ranx map@k)
    map_at_k   = the same sum / min(k, n_relevant)        (Recommenders' map_at_k)
    mrr        = 1 / first hit position, 0 without a hit
    hit_rate   = 1 if hits > 0 else 0
#}
{% macro accuracy_by_user(recs, test, k, graded=false) -%}
{%- if k is not number or k < 1 -%}{{ raise_error("accuracy_by_user: k must be a positive integer") }}{%- endif -%}
WITH truth AS (
    SELECT user_id, item_id, max({% if graded %}CAST(relevance AS DOUBLE){% else %}1.0{% endif %}) AS relevance
    FROM {{ test }}
    GROUP BY user_id, item_id
{% if graded %}
    HAVING max(CAST(relevance AS DOUBLE)) > 0
{% endif %}
),
relevant AS (
    SELECT user_id, count(*) AS n_relevant FROM truth GROUP BY user_id
),
ideal AS (
    SELECT user_id, {% call exact_sum() %}gain / log2(position + 1){% endcall %} AS idcg
    FROM (
        SELECT user_id, {% if graded %}pow(2.0, relevance) - 1{% else %}1.0{% endif %} AS gain,
               row_number() OVER (PARTITION BY user_id ORDER BY relevance DESC, item_id) AS position
        FROM truth
    ) AS t
    WHERE position <= {{ k }}
    GROUP BY user_id
),
positions AS (  -- an item listed twice counts once, at its first position
    SELECT user_id, item_id, min(position) AS position
    FROM (SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id ORDER BY rank, item_id) AS position
          FROM {{ recs }}) AS p
    GROUP BY user_id, item_id
),
scored AS (
    SELECT p.user_id, p.position,
           CASE WHEN t.item_id IS NULL THEN 0 ELSE 1 END AS hit,
           CASE WHEN t.item_id IS NULL THEN 0.0 ELSE {% if graded %}pow(2.0, t.relevance) - 1{% else %}1.0{% endif %} END
               AS gain
    FROM positions AS p
    LEFT JOIN truth AS t ON t.user_id = p.user_id AND t.item_id = p.item_id
    WHERE p.position <= {{ k }}
),
running AS (
    SELECT user_id, position, hit, gain,
           sum(hit) OVER (PARTITION BY user_id ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
               AS hits_so_far
    FROM scored
),
per_list AS (
    SELECT user_id,
           sum(hit) AS hits,
           {% call exact_sum() %}gain / log2(position + 1){% endcall %} AS dcg,
           {% call exact_sum() %}CASE WHEN hit = 1 THEN CAST(hits_so_far AS DOUBLE) / position ELSE 0 END{% endcall %} AS precision_sum,
           min(CASE WHEN hit = 1 THEN position END) AS first_hit
    FROM running
    GROUP BY user_id
)
SELECT
    r.user_id,
    r.n_relevant,
    CAST(coalesce(l.hits, 0) AS BIGINT) AS hits,
    CAST(coalesce(l.hits, 0) AS DOUBLE) / {{ k }} AS precision,
    coalesce(l.hits, 0) / CAST(r.n_relevant AS DOUBLE) AS recall,
    coalesce(l.dcg, 0) / i.idcg AS ndcg,
    CAST(coalesce(l.precision_sum, 0) AS DOUBLE) / r.n_relevant AS "map",
    CAST(coalesce(l.precision_sum, 0) AS DOUBLE) / least({{ k }}, r.n_relevant) AS map_at_k,
    coalesce(1.0 / l.first_hit, 0.0) AS mrr,
    CAST(CASE WHEN coalesce(l.hits, 0) > 0 THEN 1 ELSE 0 END AS DOUBLE) AS hit_rate
FROM relevant AS r
JOIN ideal AS i ON i.user_id = r.user_id
LEFT JOIN per_list AS l ON l.user_id = r.user_id
{%- endmacro %}


{#
  exposure(recs, items, k)
  One row over all lists (positions 1..k), against the catalogue `items`:
    catalog_coverage         = distinct recommended items / catalogue items
    distributional_coverage  = entropy of exposure in bits: -sum p_i log2 p_i, p_i = item i's share of all slots
    gini                     = Gini index of exposure over every catalogue item (unrecommended ones count 0):
                               sum_j (2j - n - 1) x_(j) / (n sum x), x sorted ascending, j = 1..n
#}
{% macro exposure(recs, items, k) -%}
WITH slots AS (
    SELECT user_id, item_id
    FROM (SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id ORDER BY rank, item_id) AS position
          FROM {{ recs }}) AS p
    WHERE position <= {{ k }}
),
catalog AS (SELECT DISTINCT item_id FROM {{ items }}),
counts AS (
    SELECT c.item_id, count(s.item_id) AS n
    FROM catalog AS c LEFT JOIN slots AS s ON s.item_id = c.item_id
    GROUP BY c.item_id
),
ordered AS (
    SELECT n, row_number() OVER (ORDER BY n, item_id) AS j FROM counts
),
totals AS (SELECT count(*) AS items, sum(n) AS slots FROM counts)
SELECT
    (SELECT count(*) FROM counts WHERE n > 0) / CAST((SELECT items FROM totals) AS DOUBLE) AS catalog_coverage,
    (SELECT -{% call exact_sum() %}(n / CAST(t.slots AS DOUBLE)) * log2(n / CAST(t.slots AS DOUBLE)){% endcall %}
       FROM counts, totals AS t WHERE n > 0) AS distributional_coverage,
    -- NULL, not NaN, for a model that listed nothing (and Spark stops on a division by zero)
    (SELECT sum((2 * j - t.items - 1) * n) / nullif(t.items * CAST(t.slots AS DOUBLE), 0)
       FROM ordered, totals AS t GROUP BY t.items, t.slots) AS gini
{%- endmacro %}


{#
  beyond_accuracy_by_user(recs, train, items, k, alpha=0.01)
  One row per user with a list: user_id, list_length, novelty, avg_popularity, profile_popularity,
  category_diversity, calibration_kl.
    novelty             = mean over list items of -log2(users_i / U): users_i = training users who interacted with
                          item i, U = training users. Items absent from training are left out of the mean.
    avg_popularity      = mean over list items of their training interaction count (0 when absent)
    profile_popularity  = mean over the user's distinct training items of their training interaction count
                          (NULL for a user without training history)
    category_diversity  = share of unordered pairs of list items whose categories differ, over the pairs where both
                          categories are known (NULL for one item, or when no pair has both known)
    calibration_kl      = KL(p || q~) = sum_c p_c log2(p_c / q~_c): p = category shares of the user's training
                          interactions, q = category shares of the list, q~ = (1 - alpha) q + alpha p (Steck 2018).
                          NULL for a user without training history.
  Popularity lift over all users is avg(avg_popularity) / avg(profile_popularity) - 1, computed by the caller.
#}
{% macro beyond_accuracy_by_user(recs, train, items, k, alpha=0.01) -%}
WITH slots AS (
    SELECT user_id, item_id, position
    FROM (SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id ORDER BY rank, item_id) AS position
          FROM {{ recs }}) AS p
    WHERE position <= {{ k }}
),
train_users AS (SELECT count(DISTINCT user_id) AS n FROM {{ train }}),
item_stats AS (
    SELECT item_id, count(DISTINCT user_id) AS users, count(*) AS interactions FROM {{ train }} GROUP BY item_id
),
category AS (SELECT item_id, any_value(category) AS category FROM {{ items }} GROUP BY item_id),
list_stats AS (
    SELECT s.user_id, count(*) AS list_length,
           {% call exact_avg() %}-log2(st.users / CAST(tu.n AS DOUBLE)){% endcall %} AS novelty,
           avg(coalesce(st.interactions, 0)) AS avg_popularity
    FROM slots AS s CROSS JOIN train_users AS tu LEFT JOIN item_stats AS st ON st.item_id = s.item_id
    GROUP BY s.user_id
),
profile AS (
    SELECT t.user_id, avg(st.interactions) AS profile_popularity
    FROM (SELECT DISTINCT user_id, item_id FROM {{ train }}) AS t JOIN item_stats AS st ON st.item_id = t.item_id
    GROUP BY t.user_id
),
pairs AS (
    SELECT a.user_id,
           -- a pair with an unknown category says nothing about diversity: left out (all unknown: NULL, "n/a")
           avg(CASE WHEN ca.category IS NULL OR cb.category IS NULL THEN NULL
                    WHEN ca.category <> cb.category THEN 1 ELSE 0 END) AS category_diversity
    FROM slots AS a
    JOIN slots AS b ON b.user_id = a.user_id AND b.position > a.position
    LEFT JOIN category AS ca ON ca.item_id = a.item_id
    LEFT JOIN category AS cb ON cb.item_id = b.item_id
    GROUP BY a.user_id
),
history AS (
    SELECT t.user_id, c.category, count(*) / sum(count(*)) OVER (PARTITION BY t.user_id) AS p
    FROM {{ train }} AS t JOIN category AS c ON c.item_id = t.item_id
    GROUP BY t.user_id, c.category
),
listed AS (
    SELECT s.user_id, c.category, count(*) / sum(count(*)) OVER (PARTITION BY s.user_id) AS q
    FROM slots AS s JOIN category AS c ON c.item_id = s.item_id
    GROUP BY s.user_id, c.category
),
calibration AS (
    SELECT h.user_id,
           {% call exact_sum() %}h.p * log2(h.p / ((1 - {{ alpha }}) * coalesce(l.q, 0) + {{ alpha }} * h.p)){% endcall %} AS calibration_kl
    FROM history AS h LEFT JOIN listed AS l ON l.user_id = h.user_id AND l.category = h.category
    GROUP BY h.user_id
)
SELECT ls.user_id, ls.list_length, ls.novelty, ls.avg_popularity, pr.profile_popularity,
       pa.category_diversity, ca.calibration_kl
FROM list_stats AS ls
LEFT JOIN profile AS pr ON pr.user_id = ls.user_id
LEFT JOIN pairs AS pa ON pa.user_id = ls.user_id
LEFT JOIN calibration AS ca ON ca.user_id = ls.user_id
{%- endmacro %}


{#
  embedding_diversity_by_user(recs, embeddings, k)
  One row per user with at least two listed items that have embeddings: user_id, embedding_diversity =
  mean over unordered pairs of (1 - cosine similarity). `embeddings` is (item_id, dim, value), one row per item and
  dimension; items without an embedding are left out.
#}
{% macro embedding_diversity_by_user(recs, embeddings, k) -%}
WITH slots AS (
    SELECT user_id, item_id, position
    FROM (SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id ORDER BY rank, item_id) AS position
          FROM {{ recs }}) AS p
    WHERE position <= {{ k }}
),
norms AS (
    SELECT item_id, sqrt({% call exact_sum() %}value * value{% endcall %}) AS norm FROM {{ embeddings }} GROUP BY item_id
),
pairs AS (
    SELECT a.user_id, a.item_id AS item_a, b.item_id AS item_b
    FROM slots AS a JOIN slots AS b ON b.user_id = a.user_id AND b.position > a.position
),
cosines AS (
    SELECT p.user_id, {% call exact_sum() %}ea.value * eb.value{% endcall %} / (max(na.norm) * max(nb.norm)) AS cosine
    FROM pairs AS p
    JOIN {{ embeddings }} AS ea ON ea.item_id = p.item_a
    JOIN {{ embeddings }} AS eb ON eb.item_id = p.item_b AND eb.dim = ea.dim
    JOIN norms AS na ON na.item_id = p.item_a
    JOIN norms AS nb ON nb.item_id = p.item_b
    GROUP BY p.user_id, p.item_a, p.item_b
)
SELECT user_id, {% call exact_avg() %}1 - cosine{% endcall %} AS embedding_diversity FROM cosines GROUP BY user_id
{%- endmacro %}
