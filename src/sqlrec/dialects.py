"""The SQL dialects stages are transpiled to. Stages are written in DuckDB SQL; each other engine gets a sqlglot
dialect of its own here, so that a DuckDB idiom with a clear equivalent is translated rather than refused. Pure.

>>> import sqlglot
>>> sqlglot.transpile("SELECT list_min(max(score, 3)) FROM t", read="duckdb", write=SqlrecSpark)[0]
'SELECT ARRAY_MIN(SLICE(SORT_ARRAY(COLLECT_LIST(score), FALSE), 1, 3)) FROM t'
>>> sqlglot.transpile("SELECT list_dot_product(u.f, i.f) FROM u, i", read="duckdb", write=SqlrecSpark)[0]
'SELECT AGGREGATE(ZIP_WITH(u.f, i.f, (x, y) -> x * y), CAST(0 AS DOUBLE), (acc, x) -> acc + x) FROM u, i'
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.spark import Spark


def _max_sql(self, expression: exp.Max) -> str:
    count = expression.args.get("count")
    if count is None:
        return self.function_fallback_sql(expression)
    # DuckDB's max(x, n): the n largest values, largest first (NULLs ignored); Spark has no top-n aggregate.
    return self.func("SLICE", self.func("SORT_ARRAY", self.func("COLLECT_LIST", expression.this),
                                        exp.false()), exp.Literal.number(1), count)


def _dot_product_sql(self, left: exp.Expression, right: exp.Expression) -> str:
    # DuckDB's list_dot_product(a, b): Spark multiplies the zipped lists and folds the products.
    return (f"AGGREGATE(ZIP_WITH({self.sql(left)}, {self.sql(right)}, (x, y) -> x * y), CAST(0 AS DOUBLE), "
            f"(acc, x) -> acc + x)")


class SqlrecSpark(Spark):
    """Spark SQL as sqlrec writes it: DuckDB's top-n `max(x, n)` becomes a sorted slice, `list_dot_product` a fold
    over zipped lists, and `AS MATERIALIZED` CTEs (a DuckDB planning hint: compute once) plain CTEs, which Spark
    computes with the same result."""

    class Generator(Spark.Generator):
        TRANSFORMS = {**Spark.Generator.TRANSFORMS, exp.Max: _max_sql}

        def anonymous_sql(self, expression: exp.Anonymous) -> str:
            if expression.name.lower() == "list_dot_product" and len(expression.expressions) == 2:
                return _dot_product_sql(self, *expression.expressions)
            return super().anonymous_sql(expression)

        def cte_sql(self, expression: exp.CTE) -> str:
            if expression.args.get("materialized") is not None:
                expression = expression.copy()
                expression.set("materialized", None)
            return super().cte_sql(expression)


#: Target name (as in `sqlrec render --dialect`) -> the sqlglot dialect used to write it.
DIALECTS = {"duckdb": "duckdb", "spark": SqlrecSpark}
