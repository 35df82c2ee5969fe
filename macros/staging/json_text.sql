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
