{#
    identity_logic_fingerprint(sql_text): an SQL expression naming the logic that wrote an incremental identity row:
    the md5 of the model's rendered SQL (its macros and the vars they render) and, on DuckDB, the engine's version
    (an upgrade may change what a function such as strip_accents or a regex returns for the same SQL). A row written
    by other logic is redone.
#}
{% macro identity_logic_fingerprint(sql_text) -%}
    {{ return(adapter.dispatch('identity_logic_fingerprint', 'customer360')(sql_text)) }}
{%- endmacro %}

{% macro duckdb__identity_logic_fingerprint(sql_text) -%}
    ('{{ local_md5(sql_text) }}@' || version())
{%- endmacro %}

{% macro default__identity_logic_fingerprint(sql_text) -%}
    '{{ local_md5(sql_text) }}'
{%- endmacro %}
