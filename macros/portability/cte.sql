{#
    `as {{ materialized_cte() }} (` asks the engine to compute a CTE once although several later CTEs
    read it. DuckDB otherwise inlines a CTE into each reader: stg_segment__events' `renamed` (the JSON
    parse, trims, timestamp regexes of every event) ran once per reader, 64 -> 34 CPU s on 1.7M events
    when computed once. PostgreSQL (12+) has the same keyword; other engines get nothing (their own plan).
#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'customer360')()) }}
{%- endmacro %}

{% macro duckdb__materialized_cte() -%}
    materialized
{%- endmacro %}

{% macro postgres__materialized_cte() -%}
    materialized
{%- endmacro %}

{% macro default__materialized_cte() -%}
{%- endmacro %}
