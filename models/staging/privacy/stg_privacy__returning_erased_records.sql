with

blocks as (
    select * from {{ source('privacy', 'erasure_blocks') }}
),

final as (
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

select * from final
