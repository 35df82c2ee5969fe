{#
    One output row per element of a delimited string (HubSpot's `hs_merged_object_ids` = "1002;1003").
    Used as a select-list expression; engines differ in how a list becomes rows.
#}
{% macro split_to_rows(text_expr, delimiter) -%}
    {{ return(adapter.dispatch('split_to_rows', 'customer360')(text_expr, delimiter)) }}
{%- endmacro %}

{% macro duckdb__split_to_rows(text_expr, delimiter) -%}
    unnest(string_split({{ text_expr }}, {{ delimiter }}))
{%- endmacro %}

{% macro postgres__split_to_rows(text_expr, delimiter) -%}
    unnest(string_to_array({{ text_expr }}, {{ delimiter }}))
{%- endmacro %}

{% macro default__split_to_rows(text_expr, delimiter) -%}
    {{ exceptions.raise_compiler_error(
        "split_to_rows has no implementation for adapter " ~ adapter.type()
        ~ ": add a " ~ adapter.type() ~ "__split_to_rows macro (e.g. UNNEST/SPLIT or a lateral table function)"
    ) }}
{%- endmacro %}
