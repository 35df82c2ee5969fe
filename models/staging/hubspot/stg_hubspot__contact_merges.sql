with

source as (
    select * from {{ customer360.source_if_loaded('hubspot', 'contacts') }}
    where {{ customer360.blank_to_null('properties__hs_merged_object_ids') }} is not null
),

split as (
    select
        cast(source.id as {{ dbt.type_string() }}) as contact_id,
        {{ customer360.split_to_rows('source.properties__hs_merged_object_ids', "';'") }} as merged_contact_id_raw,
        source._dlt_load_id as load_id
    from source
),

final as (
    select
        'hubspot' as source_system,
        split.contact_id,
        trim(split.merged_contact_id_raw) as merged_contact_id,
        {{ customer360.load_id_to_timestamp('split.load_id') }} as loaded_at
    from split
    where trim(split.merged_contact_id_raw) <> ''
)

select * from final
