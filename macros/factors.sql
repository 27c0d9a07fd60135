{#
  dot_product(left, right, column='factors')
  The dot product of the factor lists `left.column` and `right.column` (table aliases; lists of equal length).
  DuckDB: list_dot_product; the Spark dialect (sqlrec/dialects.py) writes it as
  aggregate(zip_with(a, b, (x, y) -> x * y), 0D, (s, x) -> s + x).
  Usage: {{ dot_product('u', 'i') }}
#}
{% macro dot_product(left, right, column='factors') -%}
list_dot_product({{ left | ident }}.{{ column | ident }}, {{ right | ident }}.{{ column | ident }})
{%- endmacro %}

{#
  factor_recommendations(user_factors, item_factors, seen, users, items, k, source, head_items=400, lead_dims=32)
  Latent-factor recommendations scored in SQL: score(u, j) = user factors . item factors, the user's own items
  (`seen`: user_ix, item_ix) removed, the k best per user, ties broken by the smaller item id, mapped back to ids.
  The lists are exactly those of scoring every (user, item) pair, but most pairs are never scored:
    1. every user is scored against the `head_items` items of largest norm; the k-th best unseen score among them,
       kth(u), is a floor under the user's true k-th best score;
    2. an item j can only reach the list if |u| |v_j| >= kth(u) (Cauchy-Schwarz), so a user is joined only to the
       blocks of 64 items (by norm) that hold a norm of at least kth(u) / |u|;
    3. of those items, only the ones whose first `lead_dims` coordinates, plus the bound |u_rest| |v_rest| on the
       others, reach kth(u) get a full dot product.
  A user for whom the bounds leave more than half of the tail (below the head) is scored against the whole tail
  instead, as is a user with fewer than k unseen head items. The bounds carry a slack of 1e-9 |u| |v|,
  so that rounding never drops a pair. The pruning pays on factors whose norms and spectrum decay, as an SVD's do:
  on rank-64 SVD factors at 1M events it scores about 1 pair in 10 (bench/factors.py).
    user_factors  (user_ix, factors)    item_factors  (item_ix, factors)    factors: lists of equal length
  Returns user_id, item_id, score, rank, source (= `source`, a literal).
#}
{% macro factor_recommendations(user_factors, item_factors, seen, users, items, k, source, head_items=400,
                                lead_dims=32) -%}
{%- if head_items is not integer or head_items < 1 or lead_dims is not integer or lead_dims < 1 -%}
{{ raise_error("factor_recommendations(): head_items and lead_dims must be whole numbers of at least 1") }}
{%- endif -%}
WITH item_norms AS MATERIALIZED (
    {{ _factor_norms(item_factors, 'item_ix', lead_dims) }}
),
ranked_items AS MATERIALIZED (
    -- norm_rank: 1 = the largest norm; block: the items in runs of 64 by norm, the unit the tail is joined in
    SELECT r.*, (r.norm_rank - 1) // 64 AS block
    FROM (SELECT n.*, row_number() OVER (ORDER BY n.norm DESC, n.item_ix) AS norm_rank FROM item_norms AS n) AS r
),
user_norms AS MATERIALIZED (
    {{ _factor_norms(user_factors, 'user_ix', lead_dims) }}
),
head_scores AS MATERIALIZED (
    SELECT u.user_ix, i.item_ix, {{ dot_product('u', 'i') }} AS score
    FROM user_norms AS u
    CROSS JOIN (SELECT * FROM ranked_items WHERE norm_rank <= {{ head_items }}) AS i
),
head_kth AS (
    SELECT h.user_ix, count(*) AS unseen, list_min(max(h.score, {{ k }})) AS kth
    FROM head_scores AS h
    WHERE NOT EXISTS (SELECT 1 FROM {{ seen }} AS s WHERE s.user_ix = h.user_ix AND s.item_ix = h.item_ix)
    GROUP BY h.user_ix
),
tail_middle AS (
    -- the norm halfway down the tail
    SELECT coalesce(min(norm), 0) AS norm
    FROM ranked_items
    WHERE norm_rank > {{ head_items }}
      AND norm_rank <= {{ head_items }} + ((SELECT count(*) FROM ranked_items) - {{ head_items }} + 1) // 2
),
floors AS MATERIALIZED (
    -- kth: the floor under the user's k-th best score (-inf: too few unseen head items, every item is scored);
    -- pruned: whether the bounds leave less than half of the tail to the user (otherwise the join costs more than
    -- scoring the whole tail, as it does on factors without a decaying spectrum)
    SELECT b.*, b.min_norm > m.norm AS pruned
    FROM (
        SELECT u.user_ix, u.factors, u.lead, u.rest_norm, u.norm,
               CASE WHEN h.unseen >= {{ k }} THEN h.kth ELSE -CAST('Infinity' AS DOUBLE) END AS kth,
               CASE WHEN h.unseen >= {{ k }} AND h.kth > 0 THEN h.kth / (u.norm * (1 + 1e-9)) ELSE 0 END AS min_norm
        FROM user_norms AS u
        LEFT JOIN head_kth AS h ON h.user_ix = u.user_ix
    ) AS b
    CROSS JOIN tail_middle AS m
),
tail_blocks AS (
    -- the tail's items in blocks of 64 by norm; a user is joined to the blocks whose largest norm can reach kth
    SELECT f.user_ix, f.lead, f.rest_norm, f.norm, f.kth, f.min_norm, b.block
    FROM (SELECT * FROM floors WHERE pruned) AS f
    JOIN (SELECT block, max(norm) AS top_norm FROM ranked_items WHERE norm_rank > {{ head_items }} GROUP BY block) AS b
      ON b.top_norm >= f.min_norm
),
tail_pairs AS (
    SELECT f.user_ix, i.item_ix, f.kth
    FROM tail_blocks AS f
    JOIN ranked_items AS i ON i.block = f.block
    WHERE i.norm >= f.min_norm AND i.norm_rank > {{ head_items }}
      AND {{ dot_product('f', 'i', 'lead') }} + (f.rest_norm * i.rest_norm + 1e-9 * f.norm * i.norm) >= f.kth
),
tail_scores AS (
    -- the full factors join only the pairs that passed: the block join above moves the short leads
    SELECT p.user_ix, p.item_ix, {{ dot_product('u', 'i') }} AS score, p.kth
    FROM tail_pairs AS p
    JOIN user_norms AS u ON u.user_ix = p.user_ix
    JOIN ranked_items AS i ON i.item_ix = p.item_ix
),
tail_unpruned AS (
    SELECT f.user_ix, i.item_ix, {{ dot_product('f', 'i') }} AS score, f.kth
    FROM (SELECT * FROM floors WHERE NOT pruned) AS f
    CROSS JOIN (SELECT * FROM ranked_items WHERE norm_rank > {{ head_items }}) AS i
),
scores AS MATERIALIZED (
    SELECT c.user_ix, c.item_ix, c.score
    FROM (
        SELECT h.user_ix, h.item_ix, h.score
        FROM head_scores AS h
        JOIN floors AS f ON f.user_ix = h.user_ix
        WHERE h.score >= f.kth
        UNION ALL
        SELECT t.user_ix, t.item_ix, t.score FROM tail_scores AS t WHERE t.score >= t.kth
        UNION ALL
        SELECT t.user_ix, t.item_ix, t.score FROM tail_unpruned AS t WHERE t.score >= t.kth
    ) AS c
    WHERE NOT EXISTS (SELECT 1 FROM {{ seen }} AS s WHERE s.user_ix = c.user_ix AND s.item_ix = c.item_ix)
),
ranked AS (
    {{ top_k('scores', 'user_ix', 'score', 'item_ix', k) }}
)
SELECT u.user_id, i.item_id, r.score, r."rank", {{ source | lit }} AS source
FROM ranked AS r
JOIN {{ users }} AS u ON u.user_ix = r.user_ix
JOIN {{ items }} AS i ON i.item_ix = r.item_ix
{%- endmacro %}

{#
  _factor_norms(relation, key, lead_dims)
  Each row's factors with their norm, the first `lead_dims` coordinates (`lead`) and the norm of the rest.
#}
{% macro _factor_norms(relation, key, lead_dims) -%}
SELECT f.{{ key | ident }}, f.factors, sqrt({{ dot_product('f', 'f') }}) AS norm,
       array_slice(f.factors, 1, {{ lead_dims }}) AS lead,
       sqrt(list_dot_product(array_slice(f.factors, {{ lead_dims + 1 }}, array_length(f.factors)),
                             array_slice(f.factors, {{ lead_dims + 1 }}, array_length(f.factors)))) AS rest_norm
FROM {{ relation }} AS f
{%- endmacro %}
