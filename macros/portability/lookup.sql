{#
    Seed lookups as single SQL expressions, so staging can write `{{ country_iso2('country') }}`
    instead of a join per reference table. Each is a correlated scalar subquery that DuckDB (and
    PostgreSQL, Snowflake ...) decorrelate into a hash join; lineage is kept because ref() is called.

    The seed is wrapped in a derived table exposing only `c360_lookup_key` / `c360_lookup_value`,
    so a caller's unqualified column (`iso2`, `alias` ...) can never bind to the seed's column of the
    same name inside the subquery.
#}

{% macro seed_lookup(seed_name, key_column, value_column, key_expr) -%}
    (
        select max(c360_lookup.c360_lookup_value)
        from (
            select
                {{ key_column }} as c360_lookup_key,
                {{ value_column }} as c360_lookup_value
            from {{ ref(seed_name) }}
        ) as c360_lookup
        where c360_lookup.c360_lookup_key = ({{ key_expr }})
    )
{%- endmacro %}


{% macro seed_contains(seed_name, key_column, key_expr) -%}
    case
        when ({{ key_expr }}) is null then null
        else exists (
            select 1
            from (select {{ key_column }} as c360_lookup_key from {{ ref(seed_name) }}) as c360_lookup
            where c360_lookup.c360_lookup_key = ({{ key_expr }})
        )
    end
{%- endmacro %}
