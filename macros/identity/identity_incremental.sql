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


{#
    Incremental strategy identity_replace_touched_pairs (int_identity__scored_pairs): the model's rows are the pairs
    of the records a build touched, plus one marker row per touched record (record_id_a = record_id_b). Every
    stored pair of a marked record is deleted, then the pairs are inserted; the markers never land. Both statements
    run in the model's transaction, so a crash leaves the stored pairs as they were.
#}
{% macro get_incremental_identity_replace_touched_pairs_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where
        record_id_a in (select touched.record_id_a from {{ source }} as touched where touched.record_id_a = touched.record_id_b)
        or record_id_b in (select touched.record_id_a from {{ source }} as touched where touched.record_id_a = touched.record_id_b);
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }} where record_id_a <> record_id_b
{%- endmacro %}


{#
    Incremental strategy identity_replace_all (int_identity__match_parameters): the model's rows replace the whole
    table in one transaction. The model decides whether they are the stored rows again or newly learnt ones; an
    incremental model (rather than a table) so that `--full-refresh` always learns anew.
#}
{% macro get_incremental_identity_replace_all_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}


{#
    identity_models_code(model_names): the source text of the named models of this project, joined (from dbt's graph at
    execution; empty while parsing), for a logic fingerprint that must see models upstream of the one it is in.
#}
{% macro identity_models_code(model_names) -%}
    {%- set texts = [] -%}
    {%- if execute -%}
        {%- for name in model_names -%}
            {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
            {%- if node is none -%}
                {{ exceptions.raise_compiler_error('identity_models_code: no model named ' ~ name) }}
            {%- endif -%}
            {%- do texts.append(node.raw_code) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(texts | join('\n')) }}
{%- endmacro %}
