{%- set person_raw_columns = [
    'email_raw', 'phone_raw', 'first_name_raw', 'last_name_raw', 'address_line1_raw', 'address_line2_raw',
    'city_raw', 'postal_code_raw', 'region_raw', 'country_raw', 'date_of_birth_raw'
] -%}

with

base_events as (
    select * from {{ ref('base_segment__events') }}
),

person_raw as (
    -- one row per distinct tuple of raw person fields: most messages carry none, so the person CTEs and
    -- their seed lookups run on few rows, and stg_segment__events joins them back by equality
    select distinct
        email_raw,
        phone_raw,
        first_name_raw,
        last_name_raw,
        address_line1_raw,
        address_line2_raw,
        city_raw,
        postal_code_raw,
        region_raw,
        country_raw,
        date_of_birth_raw,
        cast(null as date) as date_of_birth_parsed
    from base_events
),

person_inputs as (
    -- person values longer than var staging_max_text_length are nulled here, before any
    -- normalization, and described in oversized_values (the quarantine's value_too_long)
    select
        person_raw.*,
        {{ customer360.text_within_limit('person_raw.email_raw') }} as email_input,
        {{ customer360.text_within_limit('person_raw.phone_raw') }} as phone_input,
        {{ customer360.text_within_limit('person_raw.first_name_raw') }} as first_name_input,
        {{ customer360.text_within_limit('person_raw.last_name_raw') }} as last_name_input,
        {{ customer360.text_within_limit('person_raw.address_line1_raw') }} as address_line1_input,
        {{ customer360.text_within_limit('person_raw.address_line2_raw') }} as address_line2_input,
        {{ customer360.text_within_limit('person_raw.city_raw') }} as city_input,
        {{ customer360.text_within_limit('person_raw.postal_code_raw') }} as postal_code_input,
        {{ customer360.text_within_limit('person_raw.region_raw') }} as region_input,
        {{ customer360.text_within_limit('person_raw.country_raw') }} as country_input,
        {{ customer360.text_within_limit('person_raw.date_of_birth_raw') }} as date_of_birth_input,
        nullif(concat_ws(
            {{ customer360.oversized_values_separator() }},
            {{ customer360.oversized_value_entry('email', 'person_raw.email_raw') }},
            {{ customer360.oversized_value_entry('phone', 'person_raw.phone_raw') }},
            {{ customer360.oversized_value_entry('first_name', 'person_raw.first_name_raw') }},
            {{ customer360.oversized_value_entry('last_name', 'person_raw.last_name_raw') }},
            {{ customer360.oversized_value_entry('address_line1', 'person_raw.address_line1_raw') }},
            {{ customer360.oversized_value_entry('address_line2', 'person_raw.address_line2_raw') }},
            {{ customer360.oversized_value_entry('city', 'person_raw.city_raw') }},
            {{ customer360.oversized_value_entry('postal_code', 'person_raw.postal_code_raw') }},
            {{ customer360.oversized_value_entry('region', 'person_raw.region_raw') }},
            {{ customer360.oversized_value_entry('country', 'person_raw.country_raw') }},
            {{ customer360.oversized_value_entry('date_of_birth', 'person_raw.date_of_birth_raw') }}
        ), '') as oversized_values
    from person_raw
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

final as (
    select
        {{ customer360.values_key(person_raw_columns, 'person_columns') }} as person_values_key,
        person_columns.email_raw,
        person_columns.phone_raw,
        person_columns.first_name_raw,
        person_columns.last_name_raw,
        person_columns.address_line1_raw,
        person_columns.address_line2_raw,
        person_columns.city_raw,
        person_columns.postal_code_raw,
        person_columns.region_raw,
        person_columns.country_raw,
        person_columns.date_of_birth_raw,
        person_columns.email_input,
        person_columns.phone_input,
        person_columns.date_of_birth_input,
        person_columns.email,
        person_columns.email_match_key,
        person_columns.is_role_email,
        person_columns.is_email_invalid,
        person_columns.phone_e164,
        person_columns.is_phone_invalid,
        person_columns.first_name,
        person_columns.last_name,
        person_columns.first_name_key,
        person_columns.last_name_key,
        person_columns.given_name_canonical,
        case
            when person_columns.date_of_birth_issue is null then person_columns.date_of_birth_read
        end as date_of_birth,
        person_columns.date_of_birth_issue,
        person_columns.address_line1,
        person_columns.address_line2,
        person_columns.city,
        person_columns.postal_code,
        person_columns.region_code,
        person_columns.country_code,
        person_columns.oversized_values,
        person_columns.value_findings
    from person_columns
)

select * from final
