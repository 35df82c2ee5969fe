{#
    Regular expressions, as plain DuckDB SQL (docs/decisions.md, "Portability"): the macros quote the
    pattern and keep one spelling per operation. Patterns are written in the subset that RE2 (DuckDB,
    BigQuery) and PostgreSQL's ARE share: [..] classes, POSIX [[:space:]]-style classes, \s, anchors,
    {m,n}, groups, alternation, \1 back-references in replacements. No \pL, look-arounds or lazy
    quantifiers. Escape a metacharacter with a bracket ([.] [+]) rather than a backslash: Jinja string
    literals process backslash escapes (and warn on \. or \+).
#}

{% macro sql_string_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}


{# Whether `pattern` matches anywhere in `expr` (null in, null out). #}
{% macro regex_matches(expr, pattern) -%}
    regexp_matches({{ expr }}, {{ customer360.sql_string_literal(pattern) }})
{%- endmacro %}


{# Every match of `pattern` replaced by `replacement`. The same SQL is valid PostgreSQL. #}
{% macro regex_replace(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, {{ customer360.sql_string_literal(pattern) }}, {{ customer360.sql_string_literal(replacement) }}, 'g')
{%- endmacro %}


{# Every match of `pattern` in `expr`, one row each: use as `from relation cross join <this> as m(value)`. #}
{% macro regex_extract_all_rows(expr, pattern) -%}
    unnest(regexp_extract_all({{ expr }}, {{ customer360.sql_string_literal(pattern) }}))
{%- endmacro %}


{# The first match of `pattern` in `expr`, or null. #}
{% macro regex_extract_first(expr, pattern) -%}
    nullif(regexp_extract({{ expr }}, {{ customer360.sql_string_literal(pattern) }}), '')
{%- endmacro %}
