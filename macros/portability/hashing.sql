{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'customer360')(expr)) }}
{%- endmacro %}

{% macro duckdb__sha256_hex(expr) -%}
    sha256(cast({{ expr }} as {{ dbt.type_string() }}))
{%- endmacro %}

{# PostgreSQL 11+: sha256() takes bytea, so encode the text as UTF-8 first and hex the digest. #}
{% macro default__sha256_hex(expr) -%}
    encode(sha256(convert_to(cast({{ expr }} as {{ dbt.type_string() }}), 'UTF8')), 'hex')
{%- endmacro %}


{#
    dbt_utils.generate_surrogate_key's contract (dbt_utils is not installable here): md5 of the
    columns cast to text, nulls replaced by a marker that cannot collide with the empty string, joined
    with '-' so ('a', 'bc') and ('ab', 'c') differ.
#}
{% macro surrogate_key(field_list) -%}
    {%- if field_list is string -%}
        {%- set field_list = [field_list] -%}
    {%- endif -%}
    {%- set fields = [] -%}
    {%- for field in field_list -%}
        {%- do fields.append(
            "coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), '_dbt_utils_surrogate_key_null_')"
        ) -%}
        {%- if not loop.last -%}
            {%- do fields.append("'-'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(fields)) }}
{%- endmacro %}
