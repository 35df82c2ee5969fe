{#
    One row per HubSpot contact (live and archived), in the shared person vocabulary.
    Invalid values are nulled and flagged here; int_quality__quarantine lists them with the reason.
#}
with

deleted as (
    -- permanently deleted contacts, found by the loader's id reconciliation (issue 11)
    select id from {{ customer360.source_if_loaded('hubspot', 'deleted_contacts') }}
),

merged_away as (
    select merge_pairs.merged_contact_id from {{ ref('stg_hubspot__contact_merges') }} as merge_pairs
),

source as (
    -- an archived contact no survivor lists in hs_merged_object_ids was deleted, not merged: it leaves
    select * from {{ customer360.source_if_loaded('hubspot', 'contacts') }}
    where
        cast(id as {{ dbt.type_string() }}) not in (select cast(deleted.id as {{ dbt.type_string() }}) from deleted)
        and (
            not coalesce(archived, false)
            or cast(id as {{ dbt.type_string() }}) in (select merged_away.merged_contact_id from merged_away)
        )
),

renamed as (
    select
        cast(source.id as {{ dbt.type_string() }}) as contact_id,
        source.properties__email as email_raw,
        source.properties__phone as phone_raw,
        source.properties__firstname as first_name_raw,
        source.properties__lastname as last_name_raw,
        source.properties__address as address_line1_raw,
        cast(null as {{ dbt.type_string() }}) as address_line2_raw,
        source.properties__city as city_raw,
        source.properties__zip as postal_code_raw,
        source.properties__state as region_raw,
        source.properties__country as country_raw,
        source.properties__date_of_birth as date_of_birth_raw,
        {{ customer360.clean_text('source.properties__company') }} as company,
        {{ customer360.clean_text('source.properties__jobtitle') }} as job_title,
        {{ customer360.blank_to_null('source.properties__lifecyclestage') }} as lifecycle_stage_raw,
        source.properties__hs_email_optout as email_optout_raw,
        coalesce(source.properties__createdate, cast(source.created_at as {{ dbt.type_string() }}))
            as source_created_at_raw,
        coalesce(
            {{ customer360.to_utc_timestamp('source.properties__createdate') }},
            {{ customer360.to_utc_timestamp('source.created_at') }}
        ) as c360_created_at,
        coalesce(
            {{ customer360.to_utc_timestamp('source.properties__lastmodifieddate') }},
            {{ customer360.to_utc_timestamp('source.updated_at') }}
        ) as source_updated_at,
        coalesce(source.archived, false) as is_archived,
        {{ customer360.to_utc_timestamp('source.archived_at') }} as archived_at,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
),

{{ customer360.staging_person_ctes('renamed', date_of_birth_format='%Y-%m-%d') }},

validated as (
    select
        person_columns.*,
        {{ customer360.timestamp_issue(
            'person_columns.source_created_at_raw', 'person_columns.c360_created_at'
        ) }} as source_created_at_issue,
        {{ customer360.seed_lookup(
            'enum_lifecycle_stages', 'source_value', 'lifecycle_stage', 'lower(person_columns.lifecycle_stage_raw)'
        ) }} as lifecycle_stage,
        {{ customer360.email_consent_state('hubspot', 'person_columns.email_optout_raw') }} as c360_consent_state
    from person_columns
),

final as (
    select
        'hubspot' as source_system,
        validated.contact_id as source_record_id,
        validated.contact_id,
        {{ customer360.staging_person_column_list('validated') }},
        {#- Consent fails closed: a value the seed does not know ("1", "yes") is read as an opt-out
            (and quarantined as unknown_enum); only a missing value says nothing. -#}
        case
            when validated.c360_consent_state is not null then validated.c360_consent_state
            when {{ customer360.blank_to_null('validated.email_optout_raw') }} is not null then 'opted_out'
            else 'unknown'
        end as email_consent_state,
        cast(null as {{ dbt.type_timestamp() }}) as email_consent_updated_at,
        case
            when validated.source_created_at_issue is null then validated.c360_created_at
        end as source_created_at,
        validated.source_updated_at,
        validated.loaded_at,
        validated.company,
        validated.job_title,
        validated.lifecycle_stage,
        validated.is_archived,
        validated.archived_at,
        validated.load_id,
        {{ customer360.staging_person_quality_columns('validated') }},
        validated.lifecycle_stage_raw,
        validated.lifecycle_stage_raw is not null and validated.lifecycle_stage is null as is_lifecycle_stage_unknown,
        validated.email_optout_raw,
        {{ customer360.blank_to_null('validated.email_optout_raw') }} is not null
        and validated.c360_consent_state is null as is_email_optout_unknown,
        validated.source_created_at_raw,
        validated.source_created_at_issue
    from validated
)

select * from final
