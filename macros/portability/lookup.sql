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


{% macro duckdb_seed_map(relation, key_expr, value_aggregate, where='true', duplicate_error=none) -%}
    {#-
        DuckDB: a seed (or any small relation) as one map, key -> an aggregate of its rows, built once per
        query by an uncorrelated subquery (empty: an empty map). Read it per row with `[key]`. A correlated
        subquery would be decorrelated into a delim join that materializes every column of the outer rows
        at each lookup: at 1.5M wide Shopify orders, gigabytes spilled per model. duplicate_error: a key
        held by more than one row fails the query with this message and the key, instead of aggregating.
    -#}
    {%- if duplicate_error is not none -%}
        {%- set value_aggregate -%}
            case
                when count(*) > 1 then error('{{ duplicate_error }} ' || min({{ key_expr }}))
                else {{ value_aggregate }}
            end
        {%- endset -%}
    {%- endif -%}
    coalesce(
        (
            select map(list(c360_map.c360_map_key), list(c360_map.c360_map_value))
            from (
                select
                    {{ key_expr }} as c360_map_key,
                    {{ value_aggregate }} as c360_map_value
                from {{ relation }}
                where {{ where }}
                group by {{ key_expr }}
            ) as c360_map
        ),
        map()
    )
{%- endmacro %}


{% macro duckdb__seed_lookup(seed_name, key_column, value_column, key_expr) -%}
    {#-
        DuckDB: the seed as one map (duckdb_seed_map), read per row. Keys compare as text in both variants
        (a seed whose key column dbt typed as a number still binds), byte for byte: a session
        default_collation (nocase ...) is not applied to the map.
    -#}
    {{ customer360.duckdb_seed_map(
        ref(seed_name),
        'cast(' ~ key_column ~ ' as ' ~ dbt.type_string() ~ ')',
        'max(' ~ value_column ~ ')',
        where=key_column ~ ' is not null'
    ) }}[cast(({{ key_expr }}) as {{ dbt.type_string() }})]
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
