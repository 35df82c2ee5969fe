{#-
    What the suppression guard's live view would read from the Segment email events and the CSV consent rows,
    taken once per build: the view reuses these rows for raw rows still there as they were, and reads only the
    rest live (macro suppression_evidence_row_ctes; docs/decisions.md, "The guard's evidence, read once a build").
-#}

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
        evidence_kind,
        evidence_at
    from normalized
)

select * from final
