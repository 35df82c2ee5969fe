{#
    The person columns of docs/data_contracts.md ("Staging models"), computed the same way for every
    source from a CTE that exposes the raw values under these names (text, null when the source has no
    such field):

        email_raw, phone_raw, first_name_raw, last_name_raw, address_line1_raw, address_line2_raw,
        city_raw, postal_code_raw, region_raw, country_raw, date_of_birth_raw

    staging_person_ctes(input_cte, date_of_birth_format) (none: input_cte has a date column
    date_of_birth_parsed, read by the caller) returns three CTE definitions to put in a
    `with` clause after `input_cte` (person_inputs, person_lookups, then person_columns); select from
    person_columns. They keep every input column and add:

    * the person columns: email, email_match_key, is_role_email, phone_e164, first_name, last_name,
      first_name_key, last_name_key, given_name_canonical, date_of_birth, address_line1,
      address_line2, city, postal_code, region_code, country_code;
    * the validation flags the quarantine reads (a flagged value is nulled in its person column, the
      row stays): is_email_invalid, is_phone_invalid, date_of_birth_issue ('invalid_date',
      'future_date', 'date_before_1900' or null), oversized_values;
    * value_findings: what the rules of staging_person_value_rules() did to this row's values (a
      postal code blanked, a country not recognised, an email domain corrected ...), one entry per
      rule, which the quarantine turns into one row each.

    person_inputs guards the normalization: a raw value longer than var('staging_max_text_length')
    characters is never normalized, matched or passed on (a 1,000,000-character name made identity
    resolution 42x slower); it is replaced by null and described in `oversized_values` (field, length
    and a short prefix), which the quarantine turns into one value_too_long row per field.
    Two lookup steps because the phone and the postal code need the country code, and the email flags
    need the corrected address: each seed lookup is computed once.
#}

{# The raw person fields the guard checks, by the contract name the quarantine reports them under. #}
{% macro staging_person_raw_fields() -%}
    {{ return([
        'email', 'phone', 'first_name', 'last_name', 'address_line1', 'address_line2', 'city', 'postal_code',
        'region', 'country', 'date_of_birth'
    ]) }}
{%- endmacro %}


{#
    oversized_value_entry(field, expr): '<field>=<length>=<first 100 characters>' when expr is longer than
    var('staging_max_text_length') characters, else null. The prefix keeps no control characters, so
    entries can be joined with one (oversized_values_separator).
#}
{% macro oversized_value_entry(field, expr) -%}
    case
        when {{ dbt.length(expr) }} > {{ var('staging_max_text_length', 1000) }}
            then {{ dbt.concat([
                "'" ~ field ~ "='",
                'cast(' ~ dbt.length(expr) ~ ' as ' ~ dbt.type_string() ~ ')',
                "'='",
                customer360.regex_replace('substr(' ~ expr ~ ', 1, 100)', '[[:cntrl:]]', ' ')
            ]) }}
    end
{%- endmacro %}


{# The separator of the entries in oversized_values: a control character no entry contains. #}
{% macro oversized_values_separator() -%}
    chr(30)
{%- endmacro %}


{% macro staging_person_ctes(input_cte, date_of_birth_format='%Y-%m-%d') -%}
{%- set fields = customer360.staging_person_raw_fields() -%}
person_inputs as (
    select
        {{ input_cte }}.*,
        {%- for field in fields %}
        case
            when {{ dbt.length('cast(' ~ input_cte ~ '.' ~ field ~ '_raw as ' ~ dbt.type_string() ~ ')') }}
                <= {{ var('staging_max_text_length', 1000) }}
                then cast({{ input_cte }}.{{ field }}_raw as {{ dbt.type_string() }})
        end as c360_{{ field }}_input,
        {%- endfor %}
        {#- concat_ws skips nulls: the oversized fields' entries, or null when none is. -#}
        nullif(concat_ws(
            {{ customer360.oversized_values_separator() }},
            {%- for field in fields %}
            {{ customer360.oversized_value_entry(
                field, 'cast(' ~ input_cte ~ '.' ~ field ~ '_raw as ' ~ dbt.type_string() ~ ')'
            ) }}{{ ',' if not loop.last }}
            {%- endfor %}
        ), '') as oversized_values
    from {{ input_cte }}
),

person_lookups as (
    select
        person_inputs.*,
        {{ customer360.normalize_email('person_inputs.c360_email_input') }} as c360_email_normalized,
        {{ customer360.country_iso2('person_inputs.c360_country_input') }} as country_code,
        {%- if date_of_birth_format is none %}
        {#- the caller read the date itself (a format per row): its input CTE has date_of_birth_parsed #}
        case
            when person_inputs.c360_date_of_birth_input is not null then person_inputs.date_of_birth_parsed
        end as c360_date_of_birth_parsed,
        {%- else %}
        {{ customer360.parse_date(customer360.clean_text('person_inputs.c360_date_of_birth_input'), date_of_birth_format) }}
            as c360_date_of_birth_parsed,
        {%- endif %}
        {{ customer360.name_match_key('person_inputs.c360_first_name_input') }} as first_name_key,
        {{ customer360.name_match_key('person_inputs.c360_last_name_input') }} as last_name_key
    from person_inputs
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
        {{ customer360.normalize_phone_e164('person_lookups.c360_phone_input', 'person_lookups.country_code') }} as phone_e164,
        coalesce(
            {{ customer360.clean_text('person_lookups.c360_phone_input') }} is not null
            and {{ customer360.normalize_phone_e164('person_lookups.c360_phone_input', 'person_lookups.country_code') }} is null,
            false
        ) as is_phone_invalid,
        {{ customer360.clean_name('person_lookups.c360_first_name_input') }} as first_name,
        {{ customer360.clean_name('person_lookups.c360_last_name_input') }} as last_name,
        coalesce(
            {{ customer360.seed_lookup(
                'given_name_nicknames', 'nickname', 'canonical_given_name', 'person_lookups.first_name_key'
            ) }},
            person_lookups.first_name_key
        ) as given_name_canonical,
        case
            when {{ customer360.clean_text('person_lookups.c360_date_of_birth_input') }} is null then null
            when person_lookups.c360_date_of_birth_parsed is null then 'invalid_date'
            when person_lookups.c360_date_of_birth_parsed > {{ customer360.staging_future_cutoff() }} then 'future_date'
            when person_lookups.c360_date_of_birth_parsed < cast('1900-01-01' as date) then 'date_before_1900'
        end as date_of_birth_issue,
        {{ customer360.clean_name('person_lookups.c360_address_line1_input') }} as address_line1,
        {{ customer360.clean_name('person_lookups.c360_address_line2_input') }} as address_line2,
        {{ customer360.clean_name('person_lookups.c360_city_input') }} as city,
        {{ customer360.normalize_postal_code('person_lookups.c360_postal_code_input', 'person_lookups.country_code') }}
            as postal_code,
        coalesce(
            {{ customer360.region_code('person_lookups.c360_region_input', 'person_lookups.country_code') }},
            {{ customer360.clean_text('person_lookups.c360_region_input') }}
        ) as region_code,
        {{ customer360.value_findings('person_lookups') }} as value_findings
    from person_lookups
)
{%- endmacro %}


{#
    staging_person_value_rules(relation): the person-field rules that blank or change a value and have
    no flag column of their own (invalid emails and phones, dates of birth and oversized values have
    theirs). `relation` is the person_lookups CTE. Each rule: its name (a rule of quality_rules()),
    the contract column it acts on, what happens to the value (value_nulled or value_changed), when
    it fires, and the value the source sent.
    Formatting that keeps the meaning (case, spaces, E.164 layout, a country name written as its ISO
    code, proper-case names) is not a change and is not reported: see quality_rules().
#}
{% macro staging_person_value_rules(relation) -%}
    {%- set postal = relation ~ '.c360_postal_code_input' -%}
    {%- set country = relation ~ '.c360_country_input' -%}
    {%- set email = relation ~ '.c360_email_input' -%}
    {%- set normalized_postal = customer360.normalize_postal_code(postal, relation ~ '.country_code') -%}
    {#- letters and digits only, to compare a postal code before and after formatting -#}
    {%- set postal_chars = customer360.regex_replace('upper(cast(' ~ postal ~ ' as ' ~ dbt.type_string() ~ '))', '[^0-9A-Z]', '') -%}
    {{ return([
        {'rule': 'invalid_postal_code', 'column': 'postal_code', 'disposition': 'value_nulled', 'value': postal,
         'when': customer360.clean_text(postal) ~ ' is not null and ' ~ normalized_postal ~ ' is null'},
        {'rule': 'postal_code_shortened', 'column': 'postal_code', 'disposition': 'value_changed', 'value': postal,
         'when': dbt.length(dbt.replace(normalized_postal, "' '", "''")) ~ ' < ' ~ dbt.length(postal_chars)},
        {'rule': 'unknown_country', 'column': 'country', 'disposition': 'value_nulled', 'value': country,
         'when': customer360.clean_text(country) ~ ' is not null and ' ~ relation ~ '.country_code is null'},
        {'rule': 'email_domain_corrected', 'column': 'email', 'disposition': 'value_changed', 'value': email,
         'when': relation ~ '.c360_email_normalized <> ' ~ customer360.clean_email(email)
            ~ ' and ' ~ customer360.is_valid_email(relation ~ '.c360_email_normalized')},
    ]) }}
{%- endmacro %}


{#
    value_findings(relation): the rules of staging_person_value_rules() that fired on a row, as entries
    '<rule>=<column>=<disposition>=<value sent>' separated by oversized_values_separator() (control
    characters of the value become spaces), or null when none fired.
#}
{% macro value_findings(relation) -%}
    nullif(concat_ws(
        {{ customer360.oversized_values_separator() }},
        {%- for rule in customer360.staging_person_value_rules(relation) %}
        case
            when {{ rule.when }}
                then {{ dbt.concat([
                    "'" ~ rule.rule ~ "=" ~ rule.column ~ "=" ~ rule.disposition ~ "='",
                    customer360.regex_replace('cast(' ~ rule.value ~ ' as ' ~ dbt.type_string() ~ ')', '[[:cntrl:]]', ' ')
                ]) }}
        end{{ ',' if not loop.last }}
        {%- endfor %}
    ), '')
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
    {{ relation }}.c360_email_input as email_raw,
    {{ relation }}.is_email_invalid,
    {{ relation }}.c360_phone_input as phone_raw,
    {{ relation }}.is_phone_invalid,
    {{ relation }}.c360_date_of_birth_input as date_of_birth_raw,
    {{ relation }}.date_of_birth_issue,
    {{ relation }}.oversized_values,
    {{ relation }}.value_findings
{%- endmacro %}
