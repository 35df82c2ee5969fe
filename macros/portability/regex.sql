{#
    Regular expressions. Patterns are plain Python strings written in the subset that RE2 (DuckDB,
    BigQuery) and PostgreSQL's ARE share: [..] classes, POSIX [[:space:]]-style classes, \s, anchors,
    {m,n}, groups, alternation, \1 back-references in replacements. No \pL, look-arounds or lazy
    quantifiers: they do not exist on every engine. Escape a metacharacter with a bracket ([.] [+])
    rather than a backslash: Jinja string literals process backslash escapes (and warn on \. or \+).
#}

{% macro sql_string_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}


{% macro regex_matches(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'customer360')(expr, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_matches(expr, pattern) -%}
    regexp_matches({{ expr }}, {{ customer360.sql_string_literal(pattern) }})
{%- endmacro %}

{% macro default__regex_matches(expr, pattern) -%}
    ({{ expr }} ~ {{ customer360.sql_string_literal(pattern) }})
{%- endmacro %}


{% macro regex_replace(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace', 'customer360')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro duckdb__regex_replace(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, {{ customer360.sql_string_literal(pattern) }}, {{ customer360.sql_string_literal(replacement) }}, 'g')
{%- endmacro %}

{% macro default__regex_replace(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, {{ customer360.sql_string_literal(pattern) }}, {{ customer360.sql_string_literal(replacement) }}, 'g')
{%- endmacro %}


{# Every match of `pattern` in `expr`, one row each: use as `from relation cross join <this> as m(value)`. #}
{% macro regex_extract_all_rows(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_extract_all_rows', 'customer360')(expr, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_extract_all_rows(expr, pattern) -%}
    unnest(regexp_extract_all({{ expr }}, {{ customer360.sql_string_literal(pattern) }}))
{%- endmacro %}

{% macro default__regex_extract_all_rows(expr, pattern) -%}
    (select (regexp_matches({{ expr }}, {{ customer360.sql_string_literal(pattern) }}, 'g'))[1])
{%- endmacro %}


{# The first match of `pattern` in `expr`, or null. #}
{% macro regex_extract_first(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_extract_first', 'customer360')(expr, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_extract_first(expr, pattern) -%}
    nullif(regexp_extract({{ expr }}, {{ customer360.sql_string_literal(pattern) }}), '')
{%- endmacro %}

{% macro default__regex_extract_first(expr, pattern) -%}
    substring({{ expr }} from {{ customer360.sql_string_literal(pattern) }})
{%- endmacro %}
