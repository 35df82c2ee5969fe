{#
    A scalar from a JSON text column as text: json_text('traits', 'email'),
    json_text('context', 'page.url'). Segment's traits/properties/context are stored as JSON text so
    new fields never change the raw schema; staging pulls out the fields it needs. `path` is a
    dot-separated key path.
#}
{% macro json_text(json_expr, path) -%}
    {{ return(adapter.dispatch('json_text', 'customer360')(json_expr, path)) }}
{%- endmacro %}

{% macro duckdb__json_text(json_expr, path) -%}
    json_extract_string({{ json_expr }}, '$.{{ path }}')
{%- endmacro %}

{% macro default__json_text(json_expr, path) -%}
    {#- PostgreSQL: #>> with a text[] path. -#}
    (cast({{ json_expr }} as json) #>> '{ {{- path.split('.') | join(',') -}} }')
{%- endmacro %}

{#
    Many scalars from one JSON text column, parsed once per row: json_texts('context', ['page.url',
    'ip']) is a list (an array on PostgreSQL) of the same texts json_text gives, in the order of
    `paths`; json_pick reads one of them back by its path. A wide event row carries ~40 fields in
    three JSON columns: one json_text each re-parses the whole document every time (6x the CPU of
    parsing it once, measured on 1.7M events).
#}
{% macro json_texts(json_expr, paths) -%}
    {{ return(adapter.dispatch('json_texts', 'customer360')(json_expr, paths)) }}
{%- endmacro %}

{% macro duckdb__json_texts(json_expr, paths) -%}
    json_extract_string({{ json_expr }}, [
        {%- for path in paths %}'$.{{ path }}'{{ ', ' if not loop.last }}{% endfor -%}
    ])
{%- endmacro %}

{% macro default__json_texts(json_expr, paths) -%}
    array[
        {%- for path in paths %}{{ customer360.default__json_text(json_expr, path) }}{{ ', ' if not loop.last }}
        {%- endfor -%}
    ]
{%- endmacro %}

{% macro json_pick(relation, json_paths, column, path) -%}
    {#- json_paths maps each JSON column to the paths json_texts extracted into <column>_values. -#}
    {%- if path not in json_paths.get(column, []) -%}
        {{ exceptions.raise_compiler_error(
            "json_pick: '" ~ path ~ "' was not extracted from " ~ column ~ " (json_paths): "
            ~ json_paths.get(column, []) | join(', ')
        ) }}
    {%- endif -%}
    {#- Lists and arrays are 1-based in DuckDB and PostgreSQL alike. -#}
    {{ relation }}.{{ column }}_values[{{ json_paths[column].index(path) + 1 }}]
{%- endmacro %}
