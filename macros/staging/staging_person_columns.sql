{#
    The person columns of docs/data_contracts.md ("Staging models"), computed the same way for every
    source from a CTE that exposes the raw values under these names (text, null when the source has no
    such field):

        email_raw, phone_raw, first_name_raw, last_name_raw, address_line1_raw, address_line2_raw,
        city_raw, postal_code_raw, region_raw, country_raw, date_of_birth_raw

    staging_person_ctes(input_cte, date_of_birth_format) returns two CTE definitions to put in a
    `with` clause after `input_cte` (person_lookups, then person_columns); select from person_columns.
    They keep every input column and add:

    * the person columns: email, email_match_key, is_role_email, phone_e164, first_name, last_name,
      first_name_key, last_name_key, given_name_canonical, date_of_birth, address_line1,
      address_line2, city, postal_code, region_code, country_code;
    * the validation flags the quarantine reads (a flagged value is nulled in its person column, the
      row stays): is_email_invalid, is_phone_invalid, date_of_birth_issue ('invalid_date',
      'future_date', 'date_before_1900' or null).

    Two steps because the phone and the postal code need the country code, and the email flags need
    the corrected address: each seed lookup is computed once.
#}
{% macro staging_person_ctes(input_cte, date_of_birth_format='%Y-%m-%d') -%}
person_lookups as (
    select
        {{ input_cte }}.*,
        {{ customer360.normalize_email(input_cte ~ '.email_raw') }} as c360_email_normalized,
        {{ customer360.country_iso2(input_cte ~ '.country_raw') }} as country_code,
        {{ customer360.parse_date(customer360.clean_text(input_cte ~ '.date_of_birth_raw'), date_of_birth_format) }}
            as c360_date_of_birth_parsed,
        {{ customer360.name_match_key(input_cte ~ '.first_name_raw') }} as first_name_key,
        {{ customer360.name_match_key(input_cte ~ '.last_name_raw') }} as last_name_key
    from {{ input_cte }}
),

person_columns as (
    select
        person_lookups.*,
        case
            when {{ customer360.is_valid_email('person_lookups.c360_email_normalized') }}
                then person_lookups.c360_email_normalized
        end as email,
        {{ customer360.email_match_key('person_lookups.c360_email_normalized') }} as email_match_key,
        case
            when {{ customer360.is_valid_email('person_lookups.c360_email_normalized') }}
                then coalesce({{ customer360.is_role_email('person_lookups.c360_email_normalized') }}, false)
            else false
        end as is_role_email,
        coalesce(
            person_lookups.c360_email_normalized is not null
            and not {{ customer360.is_valid_email('person_lookups.c360_email_normalized') }},
            false
        ) as is_email_invalid,
        {{ customer360.normalize_phone_e164('person_lookups.phone_raw', 'person_lookups.country_code') }} as phone_e164,
        coalesce(
            {{ customer360.clean_text('person_lookups.phone_raw') }} is not null
            and {{ customer360.normalize_phone_e164('person_lookups.phone_raw', 'person_lookups.country_code') }} is null,
            false
        ) as is_phone_invalid,
        {{ customer360.clean_name('person_lookups.first_name_raw') }} as first_name,
        {{ customer360.clean_name('person_lookups.last_name_raw') }} as last_name,
        coalesce(
            {{ customer360.seed_lookup(
                'given_name_nicknames', 'nickname', 'canonical_given_name', 'person_lookups.first_name_key'
            ) }},
            person_lookups.first_name_key
        ) as given_name_canonical,
        case
            when {{ customer360.clean_text('person_lookups.date_of_birth_raw') }} is null then null
            when person_lookups.c360_date_of_birth_parsed is null then 'invalid_date'
            when person_lookups.c360_date_of_birth_parsed > {{ customer360.staging_future_cutoff() }} then 'future_date'
            when person_lookups.c360_date_of_birth_parsed < cast('1900-01-01' as date) then 'date_before_1900'
        end as date_of_birth_issue,
        {{ customer360.clean_name('person_lookups.address_line1_raw') }} as address_line1,
        {{ customer360.clean_name('person_lookups.address_line2_raw') }} as address_line2,
        {{ customer360.clean_name('person_lookups.city_raw') }} as city,
        {{ customer360.normalize_postal_code('person_lookups.postal_code_raw', 'person_lookups.country_code') }}
            as postal_code,
        coalesce(
            {{ customer360.region_code('person_lookups.region_raw', 'person_lookups.country_code') }},
            {{ customer360.clean_text('person_lookups.region_raw') }}
        ) as region_code
    from person_lookups
)
{%- endmacro %}


{#
    The date of birth once its issue is known: null when absent, impossible, in the future or before
    1900 (the contract's date_of_birth). Use in the select from person_columns.
#}
{% macro staged_date_of_birth(relation='person_columns') -%}
    case when {{ relation }}.date_of_birth_issue is null then {{ relation }}.c360_date_of_birth_parsed end
{%- endmacro %}


{#
    The person columns in contract order, qualified by `relation`, for the final select of a person
    staging model (after source_system and source_record_id, which each model states itself).
#}
{% macro staging_person_column_list(relation='person_columns') -%}
    {{ relation }}.email,
    {{ relation }}.email_match_key,
    {{ relation }}.is_role_email,
    {{ relation }}.phone_e164,
    {{ relation }}.first_name,
    {{ relation }}.last_name,
    {{ relation }}.first_name_key,
    {{ relation }}.last_name_key,
    {{ relation }}.given_name_canonical,
    {{ customer360.staged_date_of_birth(relation) }} as date_of_birth,
    {{ relation }}.address_line1,
    {{ relation }}.address_line2,
    {{ relation }}.city,
    {{ relation }}.postal_code,
    {{ relation }}.region_code,
    {{ relation }}.country_code
{%- endmacro %}


{# The raw values and flags the quarantine reads, in one place so every person model exposes the same. #}
{% macro staging_person_quality_columns(relation='person_columns') -%}
    {{ relation }}.email_raw,
    {{ relation }}.is_email_invalid,
    {{ relation }}.phone_raw,
    {{ relation }}.is_phone_invalid,
    {{ relation }}.date_of_birth_raw,
    {{ relation }}.date_of_birth_issue
{%- endmacro %}


{# Names of the person columns, in contract order (source_system and source_record_id excluded). #}
{% macro staging_person_column_names() -%}
    {{ return([
        'email', 'email_match_key', 'is_role_email', 'phone_e164', 'first_name', 'last_name', 'first_name_key',
        'last_name_key', 'given_name_canonical', 'date_of_birth', 'address_line1', 'address_line2', 'city',
        'postal_code', 'region_code', 'country_code'
    ]) }}
{%- endmacro %}


{# Names of the raw values and flags that staging_person_quality_columns() adds. #}
{% macro staging_person_quality_column_names() -%}
    {{ return(['email_raw', 'is_email_invalid', 'phone_raw', 'is_phone_invalid', 'date_of_birth_raw', 'date_of_birth_issue']) }}
{%- endmacro %}
