{# sha256_hex(expr): the SHA-256 of the text, as 64 lower-case hex digits (Python's hashlib.sha256().hexdigest()). Plain DuckDB SQL. #}
{% macro sha256_hex(expr) -%}
    sha256(cast({{ expr }} as {{ dbt.type_string() }}))
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


{#
    values_key(columns, relation): a key for a tuple of nullable text columns that two different tuples
    never share (up to the hash): each value is written with its length in front (`5:a-b-c`), a null as
    `~`, so no value can imitate a separator or a null. surrogate_key's '-' join is not: ('a-', 'b') and
    ('a', '-b') collide, and these tuples are raw values anyone can send.
#}
{% macro values_key(columns, relation) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- set value = relation ~ '.' ~ column -%}
        {%- do parts.append(
            "coalesce(" ~ dbt.concat(["cast(" ~ dbt.length(value) ~ " as " ~ dbt.type_string() ~ ")", "':'", value])
            ~ ", '~')"
        ) -%}
        {%- if not loop.last -%}
            {%- do parts.append("'|'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{#
    sorted_text_agg(expr, delimiter_literal): the group's text values joined in sorted order (one value whatever
    the order the rows are read in). DuckDB's list functions: the `string_agg(x, d order by x)` form is dbt's
    listagg there, which sqlfluff's DuckDB dialect cannot parse.
#}
{% macro sorted_text_agg(expr, delimiter_literal) -%}
    {{ return(adapter.dispatch('sorted_text_agg', 'customer360')(expr, delimiter_literal)) }}
{%- endmacro %}

{% macro duckdb__sorted_text_agg(expr, delimiter_literal) -%}
    array_to_string(list_sort(list({{ expr }})), {{ delimiter_literal }})
{%- endmacro %}

{% macro default__sorted_text_agg(expr, delimiter_literal) -%}
    {{ dbt.listagg(expr, delimiter_literal, 'order by ' ~ expr) }}
{%- endmacro %}
