{#
    Analyst-safe views: for every mart, a view `analyst_safe.<mart>` with the same columns, in which
    every column tagged `meta.pii` is masked according to its `pii_kind` (var `analyst_safe_masks`;
    a kind not listed there, or a column the mart's yml does not document, is nulled). Generated from
    the tags at the end of every dbt invocation (on-run-end), so a column tagged today is masked today,
    and a new mart gets its view without anyone writing one.
#}

{% macro analyst_safe_mask(column_sql, data_type, kind) -%}
    {%- set strategy = var('analyst_safe_masks', {}).get(kind, 'null') -%}
    {%- if strategy == 'email_domain' -%}
        {{ dbt.concat(["'***@'", dbt.split_part(column_sql, "'@'", 2)]) }}
    {%- elif strategy == 'year' -%}
        cast({{ dbt.date_trunc('year', column_sql) }} as {{ data_type }})
    {%- elif strategy == 'prefix3' -%}
        left(cast({{ column_sql }} as {{ dbt.type_string() }}), 3)
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}

{% macro analyst_safe_select(node, relation) -%}
    {%- set documented = {} -%}
    {%- for name, column in node.columns.items() -%}
        {%- set meta = {} -%}
        {%- do meta.update(column.meta or {}) -%}
        {%- do meta.update((column.config or {}).get('meta') or {}) -%}
        {%- do documented.update({name | lower: meta}) -%}
    {%- endfor -%}
    select
    {%- for column in adapter.get_columns_in_relation(relation) %}
        {%- set meta = documented.get(column.name | lower) %}
        {%- set quoted = adapter.quote(column.name) %}
        {%- if meta is none %}
        cast(null as {{ column.data_type }}) as {{ quoted }}
        {%- elif meta.get('pii') %}
        {{ customer360.analyst_safe_mask(quoted, column.data_type, meta.get('pii_kind')) }} as {{ quoted }}
        {%- else %}
        {{ quoted }}
        {%- endif %}{{ ',' if not loop.last }}
    {%- endfor %}
    from {{ relation }}
{%- endmacro %}

{% macro create_analyst_safe_views() -%}
    {%- if execute -%}
        {%- set schema = var('analyst_safe_schema', 'analyst_safe') -%}
        {#- run_query opens a transaction when none is open; dbt rolls back on-run-end's own, so commit here -#}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn[1] == 'marts' and node.config.enabled -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {%- if relation is not none -%}
                {%- do run_query(
                    'create or replace view ' ~ adapter.quote(schema) ~ '.' ~ adapter.quote(node.alias) ~ ' as '
                    ~ customer360.analyst_safe_select(node, relation)
                ) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    select 1 as analyst_safe_views
{%- endmacro %}
