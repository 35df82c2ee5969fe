{%- set raw_types = customer360.source_column_types('hubspot', 'contacts') -%}

with

live_contacts as (
    -- deleted contacts (the loader's id reconciliation, issue 11) leave; an archived contact no survivor
    -- lists in hs_merged_object_ids was deleted, not merged: it leaves too
    {{ customer360.hubspot_live_contacts() }}
),

source as (
    -- incremental over dlt loads (macros/staging/incremental_staging.sql): new loads, live contacts not
    -- staged yet and rows staged with a future date; contacts no longer live leave by the post-hook
    select * from live_contacts
    {% if is_incremental() %}
        where {{ customer360.staged_rows_to_redo(
            'cast(id as ' ~ dbt.type_string() ~ ')', 'already_staged.contact_id',
            ['date_of_birth_issue', 'source_created_at_issue']
        ) }}
    {% endif %}
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
        {{ customer360.parse_date(customer360.clean_text('source.properties__date_of_birth'), '%Y-%m-%d') }}
            as date_of_birth_parsed,
        {{ customer360.clean_text('source.properties__company') }} as company,
        {{ customer360.clean_text('source.properties__jobtitle') }} as job_title,
        {{ customer360.blank_to_null('source.properties__lifecyclestage') }} as lifecycle_stage_raw,
        source.properties__hs_email_optout as email_optout_raw,
        coalesce(source.properties__createdate, cast(source.created_at as {{ dbt.type_string() }}))
            as source_created_at_raw,
        coalesce(
            {{ customer360.to_utc_timestamp('source.properties__createdate') }},
            {{ customer360.to_utc_timestamp('source.created_at', raw_types.get('created_at')) }}
        ) as c360_created_at,
        coalesce(
            {{ customer360.to_utc_timestamp('source.properties__lastmodifieddate') }},
            {{ customer360.to_utc_timestamp('source.updated_at', raw_types.get('updated_at')) }}
        ) as source_updated_at,
        coalesce(source.archived, false) as is_archived,
        {{ customer360.to_utc_timestamp('source.archived_at', raw_types.get('archived_at')) }} as archived_at,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
),

person_inputs as (
    -- person values longer than var staging_max_text_length are nulled here, before any
    -- normalization, and described in oversized_values (the quarantine's value_too_long)
    select
        renamed.*,
        {{ customer360.text_within_limit('renamed.email_raw') }} as email_input,
        {{ customer360.text_within_limit('renamed.phone_raw') }} as phone_input,
        {{ customer360.text_within_limit('renamed.first_name_raw') }} as first_name_input,
        {{ customer360.text_within_limit('renamed.last_name_raw') }} as last_name_input,
        {{ customer360.text_within_limit('renamed.address_line1_raw') }} as address_line1_input,
        {{ customer360.text_within_limit('renamed.address_line2_raw') }} as address_line2_input,
        {{ customer360.text_within_limit('renamed.city_raw') }} as city_input,
        {{ customer360.text_within_limit('renamed.postal_code_raw') }} as postal_code_input,
        {{ customer360.text_within_limit('renamed.region_raw') }} as region_input,
        {{ customer360.text_within_limit('renamed.country_raw') }} as country_input,
        {{ customer360.text_within_limit('renamed.date_of_birth_raw') }} as date_of_birth_input,
        nullif(concat_ws(
            {{ customer360.oversized_values_separator() }},
            {{ customer360.oversized_value_entry('email', 'renamed.email_raw') }},
            {{ customer360.oversized_value_entry('phone', 'renamed.phone_raw') }},
            {{ customer360.oversized_value_entry('first_name', 'renamed.first_name_raw') }},
            {{ customer360.oversized_value_entry('last_name', 'renamed.last_name_raw') }},
            {{ customer360.oversized_value_entry('address_line1', 'renamed.address_line1_raw') }},
            {{ customer360.oversized_value_entry('address_line2', 'renamed.address_line2_raw') }},
            {{ customer360.oversized_value_entry('city', 'renamed.city_raw') }},
            {{ customer360.oversized_value_entry('postal_code', 'renamed.postal_code_raw') }},
            {{ customer360.oversized_value_entry('region', 'renamed.region_raw') }},
            {{ customer360.oversized_value_entry('country', 'renamed.country_raw') }},
            {{ customer360.oversized_value_entry('date_of_birth', 'renamed.date_of_birth_raw') }}
        ), '') as oversized_values
    from renamed
),

person_lookups as (
    -- each seed lookup once: the phone and the postal code need the country code, the email flags
    -- the corrected address
    select
        person_inputs.*,
        {{ customer360.normalize_email('person_inputs.email_input') }} as email_normalized,
        {{ customer360.country_iso2('person_inputs.country_input') }} as country_code,
        case
            when person_inputs.date_of_birth_input is not null then person_inputs.date_of_birth_parsed
        end as date_of_birth_read,
        {{ customer360.name_match_key('person_inputs.first_name_input') }} as first_name_key,
        {{ customer360.name_match_key('person_inputs.last_name_input') }} as last_name_key
    from person_inputs
),

person_checks as (
    -- what the columns below read more than once, computed once: whether the normalized address is valid,
    -- the phone and the postal code as staged (each written out again where it was read made the rendered
    -- SQL of this step several times longer)
    select
        person_lookups.*,
        {{ customer360.is_valid_email('person_lookups.email_normalized') }} as is_email_normalized_valid,
        {{ customer360.normalize_phone_e164('person_lookups.phone_input', 'person_lookups.country_code') }}
            as phone_normalized,
        {{ customer360.normalize_postal_code('person_lookups.postal_code_input', 'person_lookups.country_code') }}
            as postal_code_normalized
    from person_lookups
),

person_columns as (
    -- a value that fails validation is nulled and flagged; the row stays
    select
        person_checks.*,
        case
            when person_checks.is_email_normalized_valid then person_checks.email_normalized
        end as email,
        {{ customer360.email_match_key('person_checks.email_normalized') }} as email_match_key,
        case
            when person_checks.is_email_normalized_valid
                then coalesce({{ customer360.is_role_email('person_checks.email_normalized') }}, false)
            else false
        end as is_role_email,
        coalesce(
            person_checks.email_normalized is not null and not person_checks.is_email_normalized_valid, false
        ) as is_email_invalid,
        person_checks.phone_normalized as phone_e164,
        coalesce(
            {{ customer360.clean_text('person_checks.phone_input') }} is not null
            and person_checks.phone_normalized is null,
            false
        ) as is_phone_invalid,
        {{ customer360.clean_name('person_checks.first_name_input') }} as first_name,
        {{ customer360.clean_name('person_checks.last_name_input') }} as last_name,
        coalesce(
            {{ customer360.seed_lookup(
                'given_name_nicknames', 'nickname', 'canonical_given_name', 'person_checks.first_name_key'
            ) }},
            person_checks.first_name_key
        ) as given_name_canonical,
        {{ customer360.date_of_birth_issue(
            'person_checks.date_of_birth_input', 'person_checks.date_of_birth_read'
        ) }} as date_of_birth_issue,
        {{ customer360.clean_name('person_checks.address_line1_input') }} as address_line1,
        {{ customer360.clean_name('person_checks.address_line2_input') }} as address_line2,
        {{ customer360.clean_name('person_checks.city_input') }} as city,
        person_checks.postal_code_normalized as postal_code,
        coalesce(
            {{ customer360.region_code('person_checks.region_input', 'person_checks.country_code') }},
            {{ customer360.clean_text('person_checks.region_input') }}
        ) as region_code,
        {{ customer360.value_findings(
            postal_code='person_checks.postal_code_input',
            country='person_checks.country_input',
            country_code='person_checks.country_code',
            email='person_checks.email_input',
            email_normalized='person_checks.email_normalized',
            postal_code_normalized='person_checks.postal_code_normalized',
            is_email_normalized_valid='person_checks.is_email_normalized_valid'
        ) }} as value_findings
    from person_checks
),

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
        validated.email,
        validated.email_match_key,
        validated.is_role_email,
        validated.phone_e164,
        validated.first_name,
        validated.last_name,
        validated.first_name_key,
        validated.last_name_key,
        validated.given_name_canonical,
        case when validated.date_of_birth_issue is null then validated.date_of_birth_read end as date_of_birth,
        validated.address_line1,
        validated.address_line2,
        validated.city,
        validated.postal_code,
        validated.region_code,
        validated.country_code,
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
        {{ customer360.staged_lookups_fingerprint() }} as lookups_fingerprint,
        validated.email_input as email_raw,
        validated.is_email_invalid,
        validated.phone_input as phone_raw,
        validated.is_phone_invalid,
        validated.date_of_birth_input as date_of_birth_raw,
        validated.date_of_birth_issue,
        validated.oversized_values,
        validated.value_findings,
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
