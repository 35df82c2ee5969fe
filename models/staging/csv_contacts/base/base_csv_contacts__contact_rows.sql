{%- set staged_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] -%}

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

{% if is_incremental() and 'lookups_fingerprint' in staged_columns %}
    drops_read_otherwise_now as (
        -- a new file can move a drop's format verdict, and the verdict reads every row of the drop: a drop whose
        -- staged rows were read in other formats than its verdict now is staged again whole
        select distinct already_staged.source_system
        from {{ this }} as already_staged
        left join drop_formats on already_staged.source_system = drop_formats.source_system
        where
            already_staged.date_of_birth_format is distinct from drop_formats.date_of_birth_format
            or already_staged.updated_at_format is distinct from drop_formats.updated_at_format
            or already_staged.created_at_format is distinct from drop_formats.created_at_format
            or already_staged.email_consent_updated_at_format
            is distinct from drop_formats.email_consent_updated_at_format
    ),

    rows_to_stage as (
        -- the incremental staging pattern (macros/staging/incremental_staging.sql) over the drops' rows, keyed by
        -- drop, file and row; and every row of a drop read otherwise now
        select drop_rows.*
        from drop_rows
        where
            {{ customer360.staged_rows_to_redo(
                customer360.csv_contact_row_key('drop_rows'),
                customer360.csv_contact_row_key('already_staged'),
                ['date_of_birth_issue', 'source_created_at_issue', 'source_updated_at_issue'],
                load_id_expr='drop_rows.load_id'
            ) }}
            or drop_rows.source_system in (select drops_read_otherwise_now.source_system from drops_read_otherwise_now)
    ),
{% else %}
    -- a first build, a full refresh, or a table staged before the rows kept their formats and lookups: every row
    rows_to_stage as (
        select * from drop_rows
    ),
{% endif %}

renamed as (
    select
        rows_to_stage.source_system,
        drop_formats.date_of_birth_format,
        drop_formats.updated_at_format,
        drop_formats.created_at_format,
        drop_formats.email_consent_updated_at_format,
        -- the seeds and vars the rows are read with (a seed change stages every row again)
        {{ customer360.staged_lookups_fingerprint() }} as lookups_fingerprint,
        {{ customer360.blank_to_null('rows_to_stage.contact_id') }} as contact_id,
        rows_to_stage.email as email_raw,
        rows_to_stage.phone as phone_raw,
        rows_to_stage.first_name as first_name_raw,
        rows_to_stage.last_name as last_name_raw,
        rows_to_stage.address_line1 as address_line1_raw,
        rows_to_stage.address_line2 as address_line2_raw,
        rows_to_stage.city as city_raw,
        rows_to_stage.postal_code as postal_code_raw,
        rows_to_stage.region as region_raw,
        rows_to_stage.country as country_raw,
        rows_to_stage.date_of_birth as date_of_birth_raw,
        cast(
            {{ customer360.parse_datetime_as('rows_to_stage.date_of_birth', 'drop_formats.date_of_birth_format') }}
            as date
        ) as date_of_birth_parsed,
        {{ customer360.blank_to_null('rows_to_stage.email_consent') }} as email_consent_raw,
        {{ customer360.blank_to_null('rows_to_stage.updated_at') }} as source_updated_at_raw,
        {{ customer360.parse_datetime_as('rows_to_stage.updated_at', 'drop_formats.updated_at_format') }}
            as c360_updated_at,
        {{ customer360.blank_to_null('rows_to_stage.created_at') }} as source_created_at_raw,
        {{ customer360.parse_datetime_as('rows_to_stage.created_at', 'drop_formats.created_at_format') }}
            as c360_created_at,
        {{ customer360.parse_datetime_as(
            'rows_to_stage.email_consent_updated_at', 'drop_formats.email_consent_updated_at_format'
        ) }} as c360_consent_updated_at,
        rows_to_stage.source_file,
        rows_to_stage.source_row_number,
        rows_to_stage.load_id,
        {{ customer360.load_id_to_timestamp('rows_to_stage.load_id') }} as loaded_at
    from rows_to_stage
    left join drop_formats on rows_to_stage.source_system = drop_formats.source_system
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
        consented.email,
        consented.email_match_key,
        consented.is_role_email,
        consented.phone_e164,
        consented.first_name,
        consented.last_name,
        consented.first_name_key,
        consented.last_name_key,
        consented.given_name_canonical,
        case when consented.date_of_birth_issue is null then consented.date_of_birth_read end as date_of_birth,
        consented.address_line1,
        consented.address_line2,
        consented.city,
        consented.postal_code,
        consented.region_code,
        consented.country_code,
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
        consented.date_of_birth_format,
        consented.updated_at_format,
        consented.created_at_format,
        consented.email_consent_updated_at_format,
        consented.lookups_fingerprint,
        consented.email_input as email_raw,
        consented.is_email_invalid,
        consented.phone_input as phone_raw,
        consented.is_phone_invalid,
        consented.date_of_birth_input as date_of_birth_raw,
        consented.date_of_birth_issue,
        consented.oversized_values,
        consented.value_findings,
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
