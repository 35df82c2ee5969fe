{#
    Records of erased people that a later load delivered again: removed from raw by the erasure check
    after the load (or before the build) and reported to the quarantine as rule `erased`, one row per
    (run, table) with the count. No value of the removed rows is kept anywhere.
#}

with

blocks as (
    select * from {{ source('privacy', 'erasure_blocks') }}
),

returning_records as (
    select
        {{ customer360.surrogate_key(['run_id', 'schema_name', 'table_name']) }} as block_id,
        run_id,
        blocked_at,
        phase,
        {{ dbt.replace('schema_name', "'raw_'", "''") }} as source_system,
        table_name as source_table,
        rows_removed
    from blocks
    where phase in ('load', 'build')
)

select * from returning_records
