{#
    delete_pairs_no_longer_candidates(candidate_pairs): the post-hook of int_identity__pair_comparisons: delete the
    compared pairs that are not among the candidate pairs any more (a record departed, a block grew past its cap, the
    records joined one strong cluster). A no-op on a fresh or full-refreshed table, built from the candidates only.
#}
{% macro delete_pairs_no_longer_candidates(candidate_pairs) -%}
    delete from {{ this }}
    where not exists (
        select 1
        from {{ candidate_pairs }} as candidates
        where
            candidates.record_id_a = {{ this }}.record_id_a
            and candidates.record_id_b = {{ this }}.record_id_b
    )
{%- endmacro %}


{#
    identity_logic_fingerprint(sql_text): an SQL expression naming the logic that wrote an incremental identity row:
    the md5 of the model's rendered SQL (its macros and the vars they render) and, on DuckDB, the engine's version
    (an upgrade may change what a function such as jaro_winkler_similarity returns for the same SQL). A row written
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
