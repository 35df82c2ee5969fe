{#
    Every row of every file of every CSV drop, normalized and flagged: the rows int_quality__quarantine
    judges, including rows without a contact_id and older exports of a contact. Consumers use
    stg_csv_contacts__contacts. Dates and times are read in the format detected for the drop and field
    (base_csv_contacts__datetime_formats); the consent value through seed enum_email_consent_states for
    the drop, failing closed.
#}

{{ config(materialized='table') }}

with

drop_rows as (
    select * from {{ ref('base_csv_contacts__drop_rows') }}
),

datetime_formats as (
    select * from {{ ref('base_csv_contacts__datetime_formats') }}
),

consent_states as (
    select * from {{ ref('enum_email_consent_states') }}
),

drop_formats as (
    select
        source_system,
        max(case when field_name = 'date_of_birth' then datetime_format end) as date_of_birth_format,
        max(case when field_name = 'updated_at' then datetime_format end) as updated_at_format,
        max(case when field_name = 'created_at' then datetime_format end) as created_at_format,
        max(case when field_name = 'email_consent_updated_at' then datetime_format end)
            as email_consent_updated_at_format
    from datetime_formats
    group by source_system
),

renamed as (
    select
        drop_rows.source_system,
        {{ customer360.blank_to_null('drop_rows.contact_id') }} as contact_id,
        drop_rows.email as email_raw,
        drop_rows.phone as phone_raw,
        drop_rows.first_name as first_name_raw,
        drop_rows.last_name as last_name_raw,
        drop_rows.address_line1 as address_line1_raw,
        drop_rows.address_line2 as address_line2_raw,
        drop_rows.city as city_raw,
        drop_rows.postal_code as postal_code_raw,
        drop_rows.region as region_raw,
        drop_rows.country as country_raw,
        drop_rows.date_of_birth as date_of_birth_raw,
        cast(
            {{ customer360.parse_datetime_as('drop_rows.date_of_birth', 'drop_formats.date_of_birth_format') }}
            as date
        ) as date_of_birth_parsed,
        {{ customer360.blank_to_null('drop_rows.email_consent') }} as email_consent_raw,
        {{ customer360.blank_to_null('drop_rows.updated_at') }} as source_updated_at_raw,
        {{ customer360.parse_datetime_as('drop_rows.updated_at', 'drop_formats.updated_at_format') }}
            as c360_updated_at,
        {{ customer360.blank_to_null('drop_rows.created_at') }} as source_created_at_raw,
        {{ customer360.parse_datetime_as('drop_rows.created_at', 'drop_formats.created_at_format') }}
            as c360_created_at,
        {{ customer360.parse_datetime_as(
            'drop_rows.email_consent_updated_at', 'drop_formats.email_consent_updated_at_format'
        ) }} as c360_consent_updated_at,
        drop_rows.source_file,
        drop_rows.source_row_number,
        drop_rows.load_id,
        {{ customer360.load_id_to_timestamp('drop_rows.load_id') }} as loaded_at
    from drop_rows
    left join drop_formats on drop_rows.source_system = drop_formats.source_system
),

{{ customer360.staging_person_ctes('renamed', date_of_birth_format=none) }},

consented as (
    select
        person_columns.*,
        consent_states.consent_state as c360_consent_state
    from person_columns
    left join consent_states
        on
            person_columns.source_system = consent_states.source_system
            and coalesce(lower(person_columns.email_consent_raw), '') = coalesce(consent_states.source_value, '')
),

final as (
    select
        consented.source_system,
        consented.contact_id as source_record_id,
        consented.contact_id,
        -- a row without its key is still reported: by where it is
        coalesce(
            consented.contact_id,
            {{ dbt.concat([
                'consented.source_file', "':'", 'cast(consented.source_row_number as ' ~ dbt.type_string() ~ ')'
            ]) }}
        ) as record_key,
        {{ customer360.staging_person_column_list('consented') }},
        -- consent fails closed: a value the seed does not know for this drop ("Yes", "X") is read as an
        -- opt-out (and quarantined as unknown_enum); only a blank says nothing
        case
            when consented.c360_consent_state is not null then consented.c360_consent_state
            when consented.email_consent_raw is not null then 'opted_out'
            else 'unknown'
        end as email_consent_state,
        -- only the drop's own consent-time column dates a consent value; never the load time
        case
            when consented.c360_consent_state is not null then consented.c360_consent_updated_at
        end as email_consent_updated_at,
        case
            when
                {{ customer360.timestamp_issue('consented.source_created_at_raw', 'consented.c360_created_at') }}
                is null
                then consented.c360_created_at
        end as source_created_at,
        case
            when
                {{ customer360.timestamp_issue('consented.source_updated_at_raw', 'consented.c360_updated_at') }}
                is null
                then consented.c360_updated_at
        end as source_updated_at,
        consented.loaded_at,
        consented.source_file,
        consented.source_row_number,
        consented.load_id,
        {{ customer360.staging_person_quality_columns('consented') }},
        consented.email_consent_raw,
        consented.email_consent_raw is not null and consented.c360_consent_state is null
            as is_email_consent_unknown,
        consented.source_updated_at_raw,
        {{ customer360.timestamp_issue('consented.source_updated_at_raw', 'consented.c360_updated_at') }}
            as source_updated_at_issue,
        consented.source_created_at_raw,
        {{ customer360.timestamp_issue('consented.source_created_at_raw', 'consented.c360_created_at') }}
            as source_created_at_issue
    from consented
)

select * from final
