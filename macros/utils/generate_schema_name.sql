{#
    Schemas are named by layer (staging, intermediate, marts, snapshots, reference) instead of dbt's
    default "<target schema>_<custom schema>", so analysts query marts.customers, not main_marts.customers.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
