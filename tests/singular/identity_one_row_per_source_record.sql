-- customer_identities has exactly one row per source record: none missing, none twice.
with

identities as (
    select
        source_system,
        source_record_id,
        count(*) as rows_per_record
    from {{ ref('customer_identities') }}
    group by source_system, source_record_id
)

select
    records.record_key,
    coalesce(identities.rows_per_record, 0) as rows_per_record
from {{ ref('int_identity__source_records') }} as records
left join identities
    on
        records.source_system = identities.source_system
        and records.source_record_id = identities.source_record_id
where coalesce(identities.rows_per_record, 0) <> 1
