{#
  md5_unit(expression)
  A deterministic number in [0, 1) from the md5 of a text expression (the first 32 bits of the hash / 2^32).
  Same value in DuckDB, Spark and Python (int(md5(text)[:8], 16) / 2**32), whatever the thread count.
  Usage: {{ md5_unit("CAST(user_id AS VARCHAR)") }} is not allowed (raw text); pass SQL built by a macro, e.g.
         {{ md5_unit(seeded_key(evaluation.seed, ['user_id', 'item_id'])) }}
#}
{% macro md5_unit(expression) -%}
(CAST(('0x' || substr(md5({{ expression }}), 1, 8)) AS BIGINT) / CAST(4294967296 AS DOUBLE))
{%- endmacro %}

{#
  seeded_key(seed, columns)
  The text '<seed>:<col1>:<col2>...' for md5-based randomness; columns are names, quoted as identifiers.
#}
{% macro seeded_key(seed, columns) -%}
concat_ws(':', CAST({{ seed | int }} AS VARCHAR){% for column in columns %}, CAST({{ column | ident }} AS VARCHAR){% endfor %})
{%- endmacro %}

{#
  text_key(columns)
  The text '<col1>:<col2>...' of some columns (names, quoted as identifiers), for md5_unit.
#}
{% macro text_key(columns) -%}
concat_ws(':'{% for column in columns %}, CAST({{ column | ident }} AS VARCHAR){% endfor %})
{%- endmacro %}
