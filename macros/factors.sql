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
  factor_recommendations(user_factors, item_factors, seen, users, items, k, source)
  Latent-factor recommendations scored in SQL: score(u, j) = user factors . item factors for every user and item,
  the user's own items (`seen`: user_ix, item_ix) removed, the k best per user, ties broken by the smaller item id,
  mapped back to ids. Every (user, item) pair is scored: at scale the dense path (a BLAS Python stage) is faster.
    user_factors  (user_ix, factors)    item_factors  (item_ix, factors)    factors: lists of equal length
  Returns user_id, item_id, score, rank, source (= `source`, a literal).
#}
{% macro factor_recommendations(user_factors, item_factors, seen, users, items, k, source) -%}
WITH scores AS MATERIALIZED (
    SELECT u.user_ix, i.item_ix, {{ dot_product('u', 'i') }} AS score
    FROM {{ user_factors }} AS u
    CROSS JOIN {{ item_factors }} AS i
    WHERE NOT EXISTS (SELECT 1 FROM {{ seen }} AS s WHERE s.user_ix = u.user_ix AND s.item_ix = i.item_ix)
),
ranked AS (
    {{ top_k('scores', 'user_ix', 'score', 'item_ix', k) }}
)
SELECT u.user_id, i.item_id, r.score, r."rank", {{ source | lit }} AS source
FROM ranked AS r
JOIN {{ users }} AS u ON u.user_ix = r.user_ix
JOIN {{ items }} AS i ON i.item_ix = r.item_ix
{%- endmacro %}
