"""The SQL dialects stages are transpiled to. Stages are written in DuckDB SQL; each other engine gets a sqlglot
dialect of its own here, so that a DuckDB idiom with a clear equivalent is translated rather than refused, and a
function whose meaning on the other engine has not been checked is refused rather than guessed. Pure.

>>> import sqlglot
>>> sqlglot.transpile("SELECT list_min(max(score, 3)) FROM t", read="duckdb", write=SqlrecSpark)[0]
'SELECT ARRAY_MIN(SLICE(SORT_ARRAY(COLLECT_LIST(score), FALSE), 1, 3)) FROM t'
>>> sqlglot.transpile("SELECT list_dot_product(u.f, i.f) FROM u, i", read="duckdb", write=SqlrecSpark)[0]
'SELECT AGGREGATE(ZIP_WITH(u.f, i.f, (x, y) -> x * y), CAST(0 AS DOUBLE), (acc, x) -> acc + x) FROM u, i'
>>> sqlglot.transpile("SELECT log(x), ts - to_days(3), epoch(ts) FROM t", read="duckdb", write=SqlrecSpark)[0]
'SELECT LOG10(x), ts - MAKE_DT_INTERVAL(3, 0, 0, 0), CAST(UNIX_MICROS(ts) AS DOUBLE) / 1000000 FROM t'
>>> sqlglot.transpile("SELECT 1.0 / n", read="duckdb", write=SqlrecSpark)[0]
'SELECT CAST(1.0 AS DOUBLE) / n'
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.spark import Spark

from .errors import TemplateError

# DuckDB's interval constructors -> the position of their argument in Spark's MAKE_DT_INTERVAL(days, hours, mins,
# secs).
_INTERVAL_PARTS = {"to_days": 0, "to_hours": 1, "to_minutes": 2, "to_seconds": 3}
# Window functions that DuckDB types BIGINT and Spark INT: cast, so that published columns have one type.
_INTEGER_WINDOWS = (exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile)


def _max_sql(self, expression: exp.Max) -> str:
    count = expression.args.get("count")
    if count is None:
        return self.function_fallback_sql(expression)
    # DuckDB's max(x, n): the n largest values, largest first (NULLs ignored); Spark has no top-n aggregate.
    return self.func("SLICE", self.func("SORT_ARRAY", self.func("COLLECT_LIST", expression.this),
                                        exp.false()), exp.Literal.number(1), count)


def _arg_max_sql(self, expression: exp.ArgMax) -> str:
    count = expression.args.get("count")
    if count is None:
        return self.func("MAX_BY", expression.this, expression.expression)
    # DuckDB's max_by(x, key, n): the x of the n largest keys, largest first. Spark sorts (key, x) pairs, so ties
    # on the key come out by x, largest first; DuckDB leaves tied keys in no set order.
    pair = self.func("NAMED_STRUCT", exp.Literal.string("k"), expression.expression, exp.Literal.string("v"),
                     expression.this)
    top = self.func("SLICE", self.func("SORT_ARRAY", self.func("COLLECT_LIST", pair), exp.false()),
                    exp.Literal.number(1), count)
    return f"TRANSFORM({top}, p -> p.v)"


def _log_sql(self, expression: exp.Log) -> str:
    # DuckDB's log(x) is base 10; Spark's one-argument LOG is the natural logarithm.
    if expression.expression is None:
        return self.func("LOG10", expression.this)
    return self.func("LOG", expression.this, expression.expression)


def _interval_sql(self, part: int, amount: exp.Expression) -> str:
    args = [exp.Literal.number(0)] * 4
    args[part] = amount
    return self.func("MAKE_DT_INTERVAL", *args)


def _epoch_sql(self, expression: exp.TimeToUnix) -> str:
    # DuckDB's epoch(ts) is seconds with the microseconds as a fraction; Spark's UNIX_TIMESTAMP drops them.
    return f"CAST({self.func('UNIX_MICROS', expression.this)} AS DOUBLE) / 1000000"


def _cast_sql(self, expression: exp.Cast) -> str:
    # The md5 bucket: DuckDB reads '0x' || hex as a hexadecimal BIGINT; Spark casts it to NULL, and has CONV.
    operand = expression.this.unnest()  # without the parentheses around '0x' || ...
    if (expression.to.is_type(exp.DataType.Type.BIGINT) and isinstance(operand, exp.DPipe)
            and isinstance(operand.this, exp.Literal) and operand.this.is_string and operand.this.name == "0x"):
        return f"CAST({self.func('CONV', operand.expression, exp.Literal.number(16), exp.Literal.number(10))} AS BIGINT)"
    return Spark.Generator.cast_sql(self, expression)


def _div_sql(self, expression: exp.Div) -> str:
    # DuckDB's `/` is always DOUBLE division; Spark keeps DECIMAL operands (a literal such as 1.0) in DECIMAL.
    numerator = expression.this
    if not (isinstance(numerator, exp.Cast) and numerator.to.is_type(exp.DataType.Type.DOUBLE)):
        numerator = exp.cast(numerator.copy(), exp.DataType.Type.DOUBLE)
    return f"{self.sql(numerator)} / {self.sql(expression, 'expression')}"


def _number_positions_from_one(tree: exp.Expression) -> exp.Expression:
    """DuckDB's `unnest(list) WITH ORDINALITY AS f(value, n)` numbers elements from 1; Spark's POSEXPLODE, which it
    becomes, from 0. Every read of such an `n` becomes `(n + 1)`."""
    for unnest in list(tree.find_all(exp.Unnest)):
        position = unnest.args.get("offset")
        alias = unnest.args.get("alias")
        if not isinstance(position, exp.Identifier):
            continue
        scope = unnest.find_ancestor(exp.Select) or tree
        source = alias.name if alias is not None else ""
        for column in list(scope.find_all(exp.Column)):
            if column.name == position.name and column.table in ("", source):
                column.replace(exp.paren(exp.Add(this=column.copy(), expression=exp.Literal.number(1))))
    return tree


def _date_diff_sql(self, expression: exp.DateDiff) -> str:
    # DuckDB's date_diff('day', a, b) counts the day boundaries between a and b; Spark's DATEDIFF(DAY, a, b) counts
    # whole 24-hour periods. Dates (in the session's UTC) make them agree. Other units have no such fix.
    unit = (expression.text("unit") or "DAY").upper()
    if unit not in ("DAY", "DAYS"):
        self.unsupported(f"date_diff('{unit.lower()}', ...) has no verified Spark translation; use 'day'")
    end, start = (exp.cast(e.copy(), exp.DataType.Type.DATE) for e in (expression.this, expression.expression))
    return self.func("DATEDIFF", end, start)


def _try_cast_sql(self, expression: exp.TryCast) -> str:
    # Spark 4 casts in ANSI mode, where a bad value fails the query: TRY_CAST is the NULL-on-failure cast.
    operand = expression.this
    if expression.to.is_type(exp.DataType.Type.TIMESTAMPTZ):
        # Spark reads an offset only as +hh:mm after a time with seconds; DuckDB also takes +hh and +hhmm after
        # hours and minutes (2011-06-01 10:00+01)
        for pattern, replacement in ((r"([ T][0-9]{1,2}:[0-9]{2})([+-]|Z$)", "$1:00$2"),
                                     (r"(:[0-9]{2}(\.[0-9]*)?)([+-][0-9]{2})([0-9]{2})$", "$1$3:$4"),
                                     (r"(:[0-9]{2}(\.[0-9]*)?)([+-][0-9]{2})$", "$1$3:00")):
            operand = exp.func("regexp_replace", operand, exp.Literal.string(pattern),
                               exp.Literal.string(replacement))
    return f"TRY_CAST({self.sql(operand)} AS {self.sql(expression, 'to')})"


def _window_sql(self, expression: exp.Window) -> str:
    sql = Spark.Generator.window_sql(self, expression)
    return f"CAST({sql} AS BIGINT)" if isinstance(expression.this, _INTEGER_WINDOWS) else sql


class SqlrecSpark(Spark):
    """Spark SQL as sqlrec writes it: DuckDB's top-n `max(x, n)` and `max_by(x, k, n)` become sorted slices,
    `list_dot_product` a fold over zipped lists, `log` base 10, `to_days`/`to_minutes` day-time intervals,
    `date_diff('day', ...)` date boundaries, `epoch` fractional seconds, `/` DOUBLE division, `WITH ORDINALITY`
    positions from 1, the md5 bucket `CAST('0x' || hex AS BIGINT)` CONV, `round_even` BROUND, `any_value`
    NULL-skipping, ranking window functions BIGINT, and `AS MATERIALIZED` CTEs (a DuckDB planning hint: compute once)
    plain CTEs, which Spark computes with the same result.

    For the input checks' conversions: TRY_CAST stays TRY_CAST (Spark 4's ANSI CAST fails the query), text offsets
    DuckDB reads (+01, +0100, no seconds) are rewritten to the +hh:mm Spark reads, `timezone(zone, wall_clock)` is
    TO_UTC_TIMESTAMP, `try_strptime` TRY_TO_TIMESTAMP with the format in Java's letters, and `to_timestamp(seconds)`
    keeps microseconds."""

    class Generator(Spark.Generator):
        # Spark 3+ reads WITH inside subqueries; hoisting them (as for Hive) would clash two macros' CTE names
        EXPRESSIONS_WITHOUT_NESTED_CTES: set = set()
        TRANSFORMS = {**Spark.Generator.TRANSFORMS, exp.Max: _max_sql, exp.ArgMax: _arg_max_sql,
                      exp.Log: _log_sql, exp.TimeToUnix: _epoch_sql,
                      # Spark has no IS_INF; infinity compares equal to itself on both engines
                      exp.IsInf: lambda self, e: f"(ABS({self.sql(e.this)}) = CAST('Infinity' AS DOUBLE))",
                      exp.ToDays: lambda self, e: _interval_sql(self, 0, e.this), exp.Div: _div_sql,
                      exp.DateDiff: _date_diff_sql, exp.TryCast: _try_cast_sql,
                      # DuckDB's to_timestamp(seconds) keeps microseconds; Spark's FROM_UNIXTIME drops them
                      exp.UnixToTime: lambda self, e: self.func("TIMESTAMP_MICROS", exp.cast(exp.func(
                          "bround", exp.Mul(this=exp.paren(e.this.copy()), expression=exp.Literal.number(1_000_000))),
                          exp.DataType.Type.BIGINT)),
                      # DuckDB's any_value skips NULLs; Spark says so with a second argument, which FILTER allows
                      exp.AnyValue: lambda self, e: self.func("ANY_VALUE", e.this, exp.true())}

        def generate(self, expression: exp.Expression, copy: bool = True) -> str:
            expression = expression.copy() if copy else expression
            return super().generate(_number_positions_from_one(expression), copy=False)

        def anonymous_sql(self, expression: exp.Anonymous) -> str:
            name = expression.name.lower()
            if name == "list_dot_product" and len(expression.expressions) == 2:
                return (f"AGGREGATE(ZIP_WITH({self.sql(expression.expressions[0])}, "
                        f"{self.sql(expression.expressions[1])}, (x, y) -> x * y), CAST(0 AS DOUBLE), "
                        "(acc, x) -> acc + x)")
            if name in _INTERVAL_PARTS and len(expression.expressions) == 1:
                return _interval_sql(self, _INTERVAL_PARTS[name], expression.expressions[0])
            if name == "round_even" and len(expression.expressions) == 2:
                return self.func("BROUND", *expression.expressions)
            # The input checks' conversions (not verified for stages): a wall-clock time in a zone, as an instant;
            # text parsed with a strftime format, NULL where it does not fit
            if name == "timezone" and len(expression.expressions) == 2:
                zone, wall_clock = expression.expressions
                return self.func("TO_UTC_TIMESTAMP", exp.cast(wall_clock.copy(), exp.DataType.Type.TIMESTAMP), zone)
            if name == "try_strptime" and len(expression.expressions) == 2:
                text, pattern = expression.expressions
                java = self.format_time(exp.StrToTime(this=text.copy(), format=pattern.copy()))  # quoted
                return f"TRY_TO_TIMESTAMP({self.sql(text)}, {java})"
            return super().anonymous_sql(expression)

        def ignorenulls_sql(self, expression: exp.IgnoreNulls) -> str:
            if isinstance(expression.this, exp.AnyValue):  # already said by ANY_VALUE's second argument
                return self.sql(expression.this)
            return super().ignorenulls_sql(expression)

        def cast_sql(self, expression: exp.Cast, safe_prefix: str | None = None) -> str:
            return _cast_sql(self, expression)

        def window_sql(self, expression: exp.Window) -> str:
            return _window_sql(self, expression)

        def cte_sql(self, expression: exp.CTE) -> str:
            if expression.args.get("materialized") is not None:
                expression = expression.copy()
                expression.set("materialized", None)
            return super().cte_sql(expression)


#: Functions (sqlglot expression classes; DuckDB names for functions sqlglot does not know) whose Spark
#: translation gives DuckDB's result. Each is checked on both engines by tests/test_spark.py; a stage that
#: uses anything else does not render for Spark.
VERIFIED_SPARK_FUNCTIONS = frozenset({
    "Abs", "And", "AnyValue", "ArgMax", "ArrayMin", "ArraySize", "ArraySlice", "Avg", "Case", "Cast", "Ceil",
    "Coalesce", "ConcatWs", "Count", "DateDiff",
    "Exists", "Exp", "Explode", "Floor", "Greatest", "If", "Least", "Length", "Ln", "Log", "LogicalAnd",
    "LogicalOr", "Lower", "Max", "MD5", "Min", "Nullif", "Or", "Pow", "RegexpSplit", "Round", "RowNumber", "Sqrt",
    "Substring", "Sum", "TimeToUnix", "ToDays", "Unnest", "Upper",
    "list_dot_product", "round_even", "to_hours", "to_minutes", "to_seconds",
})


def function_name(func: exp.Func) -> str:
    """The name a function has in VERIFIED_SPARK_FUNCTIONS."""
    return func.name.lower() if isinstance(func, exp.Anonymous) else type(func).__name__


def check_portable(tree: exp.Expression, where: str, target: str = "spark") -> None:
    """Refuse a stage that calls a function whose `target` meaning is not verified, naming the first one."""
    for func in tree.find_all(exp.Func):
        name = function_name(func)
        if name not in VERIFIED_SPARK_FUNCTIONS:
            shown = func.sql("duckdb")
            raise TemplateError(
                f"{where}: `{shown[:80]}` uses {shown.split('(')[0].strip().lower() or name}(), which has no "
                f"verified {target} translation",
                hint="docs/spark.md (\"Running on Spark\") lists the functions with a verified translation: rewrite "
                     "the expression with those, or run the project on DuckDB (`[engine] name = \"duckdb\"`)")


#: Target name (as in `sqlrec render --dialect`) -> the sqlglot dialect used to write it.
DIALECTS = {"duckdb": "duckdb", "spark": SqlrecSpark}
