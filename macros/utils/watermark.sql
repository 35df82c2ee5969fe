{#
    watermark_floor(): the timestamp an incremental model compares new loads against when it holds no
    row yet (every load is newer), instead of a null that would let nothing through.
#}
{% macro watermark_floor() -%}
    cast('1900-01-01' as {{ dbt.type_timestamp() }})
{%- endmacro %}
