{#
    One row per (surviving contact, merged-away contact) pair, from HubSpot's hs_merged_object_ids
    ("1002;1003" on the survivor). The merged-away contacts are archived in HubSpot and appear in
    stg_hubspot__contacts with is_archived = true. Splitting a list into rows is not aggregation: the
    model stays one row per fact the source states.
#}
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
