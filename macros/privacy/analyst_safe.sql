{#
    Analyst-safe views: for every mart, a view `analyst_safe.<mart>` (`analyst_safe.<schema>__<mart>` for a
    mart outside the marts schema, e.g. the published views) with the same columns, in which
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

{% macro analyst_safe_select(node, relation, columns) -%}
    {#- columns: (name, data_type) of the relation, in order -#}
    {%- set documented = {} -%}
    {%- for name, column in node.columns.items() -%}
        {%- set meta = {} -%}
        {%- do meta.update(column.meta or {}) -%}
        {%- do meta.update((column.config or {}).get('meta') or {}) -%}
        {%- do documented.update({name | lower: meta}) -%}
    {%- endfor -%}
    select
    {%- for column_name, data_type in columns %}
        {%- set meta = documented.get(column_name | lower) %}
        {%- set quoted = adapter.quote(column_name) %}
        {%- if meta is none %}
        cast(null as {{ data_type }}) as {{ quoted }}
        {%- elif meta.get('pii') %}
        {{ customer360.analyst_safe_mask(quoted, data_type, meta.get('pii_kind')) }} as {{ quoted }}
        {%- else %}
        {{ quoted }}
        {%- endif %}{{ ',' if not loop.last }}
    {%- endfor %}
    from {{ relation }}
{%- endmacro %}

{% macro create_analyst_safe_views() -%}
    {%- if execute -%}
        {%- set schema = var('analyst_safe_schema', 'analyst_safe') -%}
        {%- set marts = [] -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn[1] == 'marts' and node.config.enabled -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {%- if relation is not none -%}
                {%- do marts.append((node, relation)) -%}
            {%- endif -%}
        {%- endfor -%}
        {#- Every mart's columns in one catalog query and every view in one batch: one round trip each
            instead of two per mart (this hook ends every dbt invocation, however small) -#}
        {%- set columns_by_relation = {} -%}
        {%- if marts -%}
            {%- set columns_query -%}
                select lower(table_schema) as table_schema, lower(table_name) as table_name, column_name, data_type
                from information_schema.columns
                where lower(table_catalog) in (
                    {%- for database in marts | map(attribute=1) | map(attribute='database') | unique -%}
                    '{{ database | lower }}'{{ ',' if not loop.last }}
                    {%- endfor -%})
                and lower(table_schema) in (
                    {%- for schema_name in marts | map(attribute=1) | map(attribute='schema') | unique -%}
                    '{{ schema_name | lower }}'{{ ',' if not loop.last }}
                    {%- endfor -%})
                order by table_schema, table_name, ordinal_position
            {%- endset -%}
            {%- for row in run_query(columns_query).rows -%}
                {%- set key = row[0] ~ '.' ~ row[1] -%}
                {%- do columns_by_relation.setdefault(key, []).append((row[2], row[3])) -%}
            {%- endfor -%}
        {%- endif -%}
        {#- A view is replaced only when its statement changed (a new column, a new tag or mask): each
            `create or replace view` costs a catalog write, ~20 ms on DuckDB, at the end of every dbt
            invocation. The statement's fingerprint is kept in the view's comment; a view replaced by
            hand loses the comment, so it is replaced again -#}
        {%- set fingerprints = customer360.analyst_safe_view_fingerprints(schema) -%}
        {%- set statements = ['create schema if not exists ' ~ adapter.quote(schema)] -%}
        {%- for node, relation in marts -%}
            {%- set columns = columns_by_relation.get((relation.schema | lower) ~ '.' ~ (relation.identifier | lower), []) -%}
            {%- if not columns -%}
                {#- the relation exists but the catalog lists no column: fail rather than leave it unmasked -#}
                {%- do exceptions.raise_compiler_error('analyst-safe views: no columns found for ' ~ relation) -%}
            {%- endif -%}
            {#- A mart outside the marts schema is named after its schema too: the published views carry
                the marts' names, and two views of one name would leave whichever came last -#}
            {%- set view_name = node.alias if node.config.schema == var('analyst_safe_source_schema', 'marts')
                else node.config.schema ~ '__' ~ node.alias -%}
            {%- set view = adapter.quote(schema) ~ '.' ~ adapter.quote(view_name) -%}
            {%- set statement = 'create or replace view ' ~ view ~ ' as '
                ~ customer360.analyst_safe_select(node, relation, columns) -%}
            {%- set fingerprint = 'customer360 analyst-safe ' ~ local_md5(statement) -%}
            {%- if fingerprints.get(view_name | lower) != fingerprint -%}
                {%- do statements.append(statement) -%}
                {%- do statements.append('comment on view ' ~ view ~ " is '" ~ fingerprint ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
        {#- run_query opens a transaction when none is open; dbt rolls back on-run-end's own, so commit here -#}
        {%- do run_query(statements | join(';\n')) -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    select 1 as analyst_safe_views
{%- endmacro %}

{% macro analyst_safe_view_fingerprints(schema) -%}
    {{ return(adapter.dispatch('analyst_safe_view_fingerprints', 'customer360')(schema)) }}
{%- endmacro %}

{% macro duckdb__analyst_safe_view_fingerprints(schema) -%}
    {%- set query -%}
        select lower(view_name), comment from duckdb_views() where lower(schema_name) = '{{ schema | lower }}'
    {%- endset -%}
    {%- set fingerprints = {} -%}
    {%- for row in run_query(query).rows -%}
        {%- do fingerprints.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {{ return(fingerprints) }}
{%- endmacro %}

{% macro default__analyst_safe_view_fingerprints(schema) -%}
    {#- engines without view comments here: no fingerprints, so every view is replaced every time -#}
    {{ return({}) }}
{%- endmacro %}
