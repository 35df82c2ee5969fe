{#
    CSV contact drops live in the warehouse, not in the project: every table the csv_contacts loader
    wrote to raw_csv_contacts (one per drop, named after it) is a drop, found when the model runs.
#}

{#
    csv_contact_drop_relations(): the drop tables now in the schema of source('csv_contacts',
    'rejected_rows'), sorted by name (empty at parse time and when nothing was loaded). A drop table
    without the columns this project reads was loaded by an older customer360: that stops the build with
    one line saying how to reload it.
#}
{% macro csv_contact_drop_relations() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set rejected = source('csv_contacts', 'rejected_rows') -%}
    {%- set tables -%}
        select table_name
        from information_schema.tables
        where table_catalog = '{{ rejected.database }}' and table_schema = '{{ rejected.schema }}'
        order by table_name
    {%- endset -%}
    {%- set drops = [] -%}
    {%- for name in run_query(tables).columns[0].values() -%}
        {%- if name != rejected.identifier and modules.re.fullmatch('[a-z][a-z0-9_]{0,39}', name) -%}
            {%- set relation = api.Relation.create(
                database=rejected.database, schema=rejected.schema, identifier=name
            ) -%}
            {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
            {%- set missing = customer360.csv_contact_columns() | reject('in', columns) | list -%}
            {%- if missing -%}
                {{ exceptions.raise_compiler_error(
                    relation.identifier ~ " in " ~ relation.schema ~ " was loaded by an older customer360 (no "
                    ~ missing | join(', ') ~ "): load it again with `customer360 load csv_contacts --path DIR "
                    ~ "--mapping FILE --source-name " ~ relation.identifier ~ "`"
                ) }}
            {%- endif -%}
            {%- do drops.append(relation) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(drops) }}
{%- endmacro %}


{# The columns every drop table has (ingestion/sources/csv_contacts.py, CANONICAL_FIELDS + bookkeeping). #}
{% macro csv_contact_columns() -%}
    {{ return([
        'contact_id', 'email', 'phone', 'first_name', 'last_name', 'address_line1', 'address_line2', 'city',
        'postal_code', 'region', 'country', 'date_of_birth', 'updated_at', 'created_at', 'email_consent',
        'email_consent_updated_at', '_source_file', '_row_number', '_dlt_load_id'
    ]) }}
{%- endmacro %}


{#
    parse_datetime_as(expr, format_expr): expr (text) read in the format named by format_expr, one of
    var('csv_datetime_formats') ('iso' = ISO-8601, else a strptime format); a UTC timestamp, or null when
    it does not match (or format_expr is null).
#}
{% macro parse_datetime_as(expr, format_expr) -%}
    case {{ format_expr }}
        {%- for format in var('csv_datetime_formats') %}
        when {{ customer360.sql_string_literal(format) }} then {{ customer360.parse_datetime_in(expr, format) }}
        {%- endfor %}
    end
{%- endmacro %}


{#
    parse_datetime_in(expr, format): expr (text) read in `format`, known when the model compiles (one of
    var('csv_datetime_formats')): parse_datetime_as's branch for it alone, without the others.
#}
{% macro parse_datetime_in(expr, format) -%}
    {%- if format == 'iso' -%}
        {{ customer360.to_utc_timestamp(customer360.blank_to_null(expr)) }}
    {%- else -%}
        {{ customer360.parse_timestamp(customer360.blank_to_null(expr), format) }}
    {%- endif -%}
{%- endmacro %}


{#
    csv_contact_row_key(relation): one CSV row's key as one text value: its drop, file and data row
    (`<drop>:<file>:<row>`), over the columns source_system, source_file and source_row_number of the alias
    `relation` (none: the columns unqualified).
#}
{% macro csv_contact_row_key(relation) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {{ dbt.concat([
        prefix ~ 'source_system', "':'", prefix ~ 'source_file', "':'",
        'cast(' ~ prefix ~ 'source_row_number as ' ~ dbt.type_string() ~ ')'
    ]) }}
{%- endmacro %}
