{#
    One-expression helpers of the person columns of docs/data_contracts.md ("Staging models"). Every
    person staging model writes its person CTEs itself (person_inputs, person_lookups, person_checks,
    person_columns; tests/python/test_quality_rules.py checks the models keep them the same) and calls these
    for the expressions that would otherwise be written five times.
#}

{#
    text_within_limit(expr): the value as text, or null when it is longer than
    var('staging_max_text_length') characters. A longer value is never normalized, matched or passed on
    (a 1,000,000-character name made identity resolution 42x slower); oversized_value_entry() reports it.
#}
{% macro text_within_limit(expr) -%}
    case
        when {{ dbt.length('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')') }} <= {{ var('staging_max_text_length', 1000) }}
            then cast({{ expr }} as {{ dbt.type_string() }})
    end
{%- endmacro %}


{#
    oversized_value_entry(field, expr): '<field>=<length>=<first 100 characters>' when expr (as text) is
    longer than var('staging_max_text_length') characters, else null. The prefix keeps no control
    characters, so entries can be joined with one (oversized_values_separator).
#}
{% macro oversized_value_entry(field, expr) -%}
    {%- set text = 'cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')' -%}
    case
        when {{ dbt.length(text) }} > {{ var('staging_max_text_length', 1000) }}
            then {{ dbt.concat([
                "'" ~ field ~ "='",
                'cast(' ~ dbt.length(text) ~ ' as ' ~ dbt.type_string() ~ ')',
                "'='",
                customer360.regex_replace('substr(' ~ text ~ ', 1, 100)', '[[:cntrl:]]', ' ')
            ]) }}
    end
{%- endmacro %}


{# The separator of the entries in oversized_values and value_findings: a control character no entry contains. #}
{% macro oversized_values_separator() -%}
    chr(30)
{%- endmacro %}


{#
    date_of_birth_issue(input_expr, parsed_expr): why a present date of birth cannot be staged:
    'invalid_date' (unreadable), 'future_date' (after build time + grace), 'date_before_1900', or null.
#}
{% macro date_of_birth_issue(input_expr, parsed_expr) -%}
    case
        when {{ customer360.clean_text(input_expr) }} is null then null
        when {{ parsed_expr }} is null then 'invalid_date'
        when {{ parsed_expr }} > {{ customer360.staging_future_cutoff() }} then 'future_date'
        when {{ parsed_expr }} < cast('1900-01-01' as date) then 'date_before_1900'
    end
{%- endmacro %}


{#
    staging_person_value_rules(postal_code, country, country_code, email, email_normalized,
    postal_code_normalized, is_email_normalized_valid): the person-field rules that blank or change a value
    and have no flag column of their own (invalid emails and phones, dates of birth and oversized values
    have theirs). The arguments are SQL expressions: the postal code, country and email as sent (after the
    length guard), the country's ISO code, the normalized email, the postal code as staged
    (normalize_postal_code of the two) and whether the normalized email is valid (is_valid_email of it): the
    person models compute the last two once, in their person_checks step. Each rule: its name (a rule of
    quality_rules()), the contract column it acts on, what happens to the value (value_nulled or
    value_changed), when it fires, and the value the source sent.
    Formatting that keeps the meaning (case, spaces, E.164 layout, a country name written as its ISO
    code, proper-case names) is not a change and is not reported: see quality_rules().
#}
{% macro staging_person_value_rules(
    postal_code, country, country_code, email, email_normalized, postal_code_normalized, is_email_normalized_valid
) -%}
    {#- letters and digits only, to compare a postal code before and after formatting -#}
    {%- set postal_chars = customer360.regex_replace('upper(cast(' ~ postal_code ~ ' as ' ~ dbt.type_string() ~ '))', '[^0-9A-Z]', '') -%}
    {{ return([
        {'rule': 'invalid_postal_code', 'column': 'postal_code', 'disposition': 'value_nulled', 'value': postal_code,
         'when': customer360.clean_text(postal_code) ~ ' is not null and ' ~ postal_code_normalized ~ ' is null'},
        {'rule': 'postal_code_shortened', 'column': 'postal_code', 'disposition': 'value_changed', 'value': postal_code,
         'when': dbt.length(dbt.replace(postal_code_normalized, "' '", "''")) ~ ' < ' ~ dbt.length(postal_chars)},
        {'rule': 'unknown_country', 'column': 'country', 'disposition': 'value_nulled', 'value': country,
         'when': customer360.clean_text(country) ~ ' is not null and ' ~ country_code ~ ' is null'},
        {'rule': 'email_domain_corrected', 'column': 'email', 'disposition': 'value_changed', 'value': email,
         'when': email_normalized ~ ' <> ' ~ customer360.clean_email(email) ~ ' and ' ~ is_email_normalized_valid},
    ]) }}
{%- endmacro %}


{#
    value_findings(postal_code, country, country_code, email, email_normalized, postal_code_normalized,
    is_email_normalized_valid): the rules of staging_person_value_rules() that fired on a row, as entries
    '<rule>=<column>=<disposition>=<value sent>' separated by oversized_values_separator() (control characters
    of the value become spaces), or null when none fired.
#}
{% macro value_findings(
    postal_code, country, country_code, email, email_normalized, postal_code_normalized, is_email_normalized_valid
) -%}
    {%- set rules = customer360.staging_person_value_rules(
        postal_code, country, country_code, email, email_normalized, postal_code_normalized, is_email_normalized_valid
    ) -%}
    nullif(concat_ws(
        {{ customer360.oversized_values_separator() }},
        {%- for rule in rules %}
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
