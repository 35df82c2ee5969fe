with

source as (
    select * from {{ customer360.source_if_loaded('csv_contacts', 'rejected_rows') }}
),

final as (
    select
        source.source_name as source_system,
        {{ dbt.concat(['source.source_file', "':'", 'cast(source.row_number as ' ~ dbt.type_string() ~ ')']) }}
            as record_key,
        source.source_file,
        source.row_number,
        source.raw_text,
        source.reason,
        {{ customer360.to_utc_timestamp('source.rejected_at') }} as rejected_at,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
)

select * from final
