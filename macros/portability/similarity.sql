{#
    String similarity for the identity layer's scored matching. Both return null when either side is
    null, like the built-ins.
#}

{% macro jaro_winkler(a, b) -%}
    {{ return(adapter.dispatch('jaro_winkler', 'customer360')(a, b)) }}
{%- endmacro %}

{% macro duckdb__jaro_winkler(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{% macro default__jaro_winkler(a, b) -%}
    {#- Raise only when SQL is really being built, so `dbt parse` / docs still work on other engines. -#}
    {%- if execute -%}
        {{ exceptions.raise_compiler_error(
            "customer360.jaro_winkler has no implementation for the '" ~ target.type ~ "' adapter: add a "
            ~ target.type ~ "__jaro_winkler macro (e.g. a UDF or the engine's built-in) in macros/portability/similarity.sql"
        ) }}
    {%- endif -%}
    cast(null as {{ dbt.type_float() }})
{%- endmacro %}


{% macro levenshtein_distance(a, b) -%}
    {{ return(adapter.dispatch('levenshtein_distance', 'customer360')(a, b)) }}
{%- endmacro %}

{% macro duckdb__levenshtein_distance(a, b) -%}
    levenshtein({{ a }}, {{ b }})
{%- endmacro %}

{# PostgreSQL: levenshtein() of the fuzzystrmatch extension (`create extension fuzzystrmatch`). #}
{% macro default__levenshtein_distance(a, b) -%}
    levenshtein({{ a }}, {{ b }})
{%- endmacro %}
