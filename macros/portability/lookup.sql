{#
    Seed lookups as single SQL expressions, so staging can write `{{ country_iso2('country') }}`
    instead of a join per reference table; lineage is kept because ref() is called. seed_lookup is a
    map read on DuckDB and a correlated scalar subquery elsewhere (see duckdb__seed_lookup).

    The seed is wrapped in a derived table exposing only `c360_lookup_key` / `c360_lookup_value`,
    so a caller's unqualified column (`iso2`, `alias` ...) can never bind to the seed's column of the
    same name inside the subquery.
#}

{% macro seed_lookup(seed_name, key_column, value_column, key_expr) -%}
    {{ return(adapter.dispatch('seed_lookup', 'customer360')(seed_name, key_column, value_column, key_expr)) }}
{%- endmacro %}


{% macro duckdb__seed_lookup(seed_name, key_column, value_column, key_expr) -%}
    {#-
        DuckDB: the seed as one map, built once per query by an uncorrelated subquery, and read per row.
        A correlated subquery is decorrelated into a delim join that materializes every column of the
        outer rows at each lookup: at 1.5M wide Shopify orders, gigabytes spilled per model. Keys compare
        as text in both variants (a seed whose key column dbt typed as a number still binds), byte for
        byte: a session default_collation (nocase ...) is not applied to the map.
    -#}
    coalesce(
        (
            select map(list(c360_lookup.c360_lookup_key), list(c360_lookup.c360_lookup_value))
            from (
                select
                    cast({{ key_column }} as {{ dbt.type_string() }}) as c360_lookup_key,
                    max({{ value_column }}) as c360_lookup_value
                from {{ ref(seed_name) }}
                where {{ key_column }} is not null
                group by cast({{ key_column }} as {{ dbt.type_string() }})
            ) as c360_lookup
        ),
        map()
    )[cast(({{ key_expr }}) as {{ dbt.type_string() }})]
{%- endmacro %}


{% macro default__seed_lookup(seed_name, key_column, value_column, key_expr) -%}
    (
        select max(c360_lookup.c360_lookup_value)
        from (
            select
                {{ key_column }} as c360_lookup_key,
                {{ value_column }} as c360_lookup_value
            from {{ ref(seed_name) }}
        ) as c360_lookup
        where
            cast(c360_lookup.c360_lookup_key as {{ dbt.type_string() }})
            = cast(({{ key_expr }}) as {{ dbt.type_string() }})
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
