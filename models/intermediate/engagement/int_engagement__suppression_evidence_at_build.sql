with

{{ customer360.suppression_evidence_row_ctes('at_build') }},

normalized as (
    select
        raw_table,
        raw_row_key,
        raw_load_id,
        evidence_origin,
        source_system,
        source_record_id,
        {{ customer360.normalize_email('email_raw') }} as email,
        evidence_kind,
        evidence_at
    from guard_rows_evidence
),

keyed as (
    select
        *,
        {{ customer360.email_match_key('email') }} as email_key
    from normalized
),

final as (
    select distinct
        {{ surrogate_key(['raw_table', 'raw_row_key', 'raw_load_id', 'evidence_origin', 'source_record_id', 'email',
            'evidence_kind', 'evidence_at']) }} as at_build_evidence_id,
        raw_table,
        raw_row_key,
        raw_load_id,
        evidence_origin,
        source_system,
        source_record_id,
        email,
        email_key,
        evidence_kind,
        evidence_at,
        -- what else this reading depends on (vars, drops, seed rows): the view refuses a reading it would not make
        {{ customer360.suppression_evidence_reading_fingerprint() }} as reading_fingerprint
    from keyed
)

select * from final
