{#
    watermark_floor(): the timestamp an incremental model compares new loads against when it holds no
    row yet (every load is newer), instead of a null that would let nothing through.
#}
{% macro watermark_floor() -%}
    cast('1900-01-01' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#
    is_empty_run(): true in a dbt run with --empty (refs and sources read no rows). An incremental model then
    removes nothing it stores: nothing was read, so nothing is known to be gone.
#}
{% macro is_empty_run() -%}
    {{ return(invocation_args_dict.get('empty', false) is sameas true) }}
{%- endmacro %}
