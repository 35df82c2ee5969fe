{#-
    Incremental by pair: a pair's comparison levels depend on its two source records alone (and on the SQL that
    compares them), so a build compares only the candidate pairs that are new, whose records changed (their row's
    hash, record_fingerprint_a/_b) or whose comparison SQL changed (comparison_logic_fingerprint: the macros and
    vars it renders). The weights, which are learnt from all records in every build, are applied downstream in
    int_identity__scored_pairs. Pairs that are no longer candidates leave by the post-hook.
-#}
{%- set tf_columns = identity_term_frequency_columns() %}
{%- set tf_values, tf_value_names = [], [] %}
{%- for comparison, column in tf_columns.items() %}
    {%- do tf_values.append('a.' ~ column ~ ' as ' ~ comparison ~ '_value') %}
    {%- do tf_value_names.append(comparison ~ '_value') %}
{%- endfor %}
{%- set exclusive_email_sources = ["''"] %}
{%- for source_system in var('identity_exclusive_email_sources') %}
    {%- do exclusive_email_sources.append("'" ~ source_system ~ "'") %}
{%- endfor %}
{%- set comparison_sql -%}
features as (
    select
        pairs.record_id_a,
        pairs.record_id_b,
        a.record_key as record_key_a,
        b.record_key as record_key_b,
        {{ tf_values | join(', ') }},
        a.source_system = b.source_system
        and a.source_system in ({{ exclusive_email_sources | join(', ') }})
        and a.email_match_key <> b.email_match_key
        and not a.is_role_email and not b.is_role_email as is_exclusive_email_conflict,
        {{ identity_comparison_features('a', 'b') }},
        a.record_fingerprint as record_fingerprint_a,
        b.record_fingerprint as record_fingerprint_b
    from pairs_to_compare as pairs
    inner join records as a on pairs.record_id_a = a.record_id
    inner join records as b on pairs.record_id_b = b.record_id
),

compared as (
    select
        record_id_a,
        record_id_b,
        record_key_a,
        record_key_b,
        {{ tf_value_names | join(', ') }},
        is_exclusive_email_conflict,
        {{ identity_comparison_levels() }},
        record_fingerprint_a,
        record_fingerprint_b
    from features
)
{%- endset -%}
{%- set comparison_logic_fingerprint = customer360.identity_logic_fingerprint(comparison_sql) -%}
{%- set compared_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] -%}

with

records as (
    select
        source_records.*,
        {{ customer360.identity_row_hash('source_records') }} as record_fingerprint
    from {{ ref('int_identity__source_records') }} as source_records
),

candidate_pairs as (
    select
        record_id_a,
        record_id_b
    from {{ ref('int_identity__candidate_pairs') }}
),

{% if is_incremental() and 'comparison_logic_fingerprint' in compared_columns %}
    keyed_pairs as (
        select
            candidate_pairs.record_id_a,
            candidate_pairs.record_id_b,
            a.record_fingerprint as record_fingerprint_a,
            b.record_fingerprint as record_fingerprint_b
        from candidate_pairs
        inner join records as a on candidate_pairs.record_id_a = a.record_id
        inner join records as b on candidate_pairs.record_id_b = b.record_id
    ),

    pairs_to_compare as (
        -- new pairs, pairs whose records changed, and every pair when the comparison SQL changed
        select
            record_id_a,
            record_id_b
        from keyed_pairs
        where not exists (
            select 1
            from {{ this }} as compared_before
            where
                compared_before.record_id_a = keyed_pairs.record_id_a
                and compared_before.record_id_b = keyed_pairs.record_id_b
                and compared_before.record_fingerprint_a = keyed_pairs.record_fingerprint_a
                and compared_before.record_fingerprint_b = keyed_pairs.record_fingerprint_b
                and compared_before.comparison_logic_fingerprint = {{ comparison_logic_fingerprint }}
        )
    ),
{% else %}
    -- a new or full-refreshed table (or one written before the fingerprints): every candidate pair, without first
    -- looking its records' fingerprints up (the comparison reads them with the records)
    pairs_to_compare as (
        select * from candidate_pairs
    ),
{% endif %}

{{ comparison_sql }},

final as (
    select
        *,
        {{ comparison_logic_fingerprint }} as comparison_logic_fingerprint
    from compared
)

select * from final
