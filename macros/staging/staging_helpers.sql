{#
    Small shared pieces of the staging models.
#}

{#
    email_consent_state(source_system, value_expr): the source's consent value mapped to the enum of
    seed enum_email_consent_states (opted_in, opted_out, pending, invalid, unknown). Values are
    matched lower-cased and trimmed; a blank value is looked up as '' (a drop can say what blank
    means). Null when the seed does not know the value: the quarantine reports it as unknown_enum.
#}
{% macro email_consent_state(source_system, value_expr) -%}
    {{ customer360.seed_lookup(
        'enum_email_consent_states',
        dbt.concat(['source_system', "':'", "coalesce(source_value, '')"]),
        'consent_state',
        dbt.concat(["'" ~ source_system ~ ":'", "coalesce(lower(trim(cast(" ~ value_expr ~ " as " ~ dbt.type_string() ~ "))), '')"])
    ) }}
{%- endmacro %}


{#
    timestamp_issue(raw_expr, parsed_expr): why a present timestamp or date cannot be staged:
    'invalid_date' (present but unreadable), 'future_date' (after build time + grace), or null.
#}
{% macro timestamp_issue(raw_expr, parsed_expr) -%}
    case
        when {{ customer360.clean_text('cast(' ~ raw_expr ~ ' as ' ~ dbt.type_string() ~ ')') }} is null then null
        when ({{ parsed_expr }}) is null then 'invalid_date'
        when ({{ parsed_expr }}) > {{ customer360.staging_future_cutoff() }} then 'future_date'
    end
{%- endmacro %}


{# nullif(trim(text), ''): a source's blank string is a missing value. #}
{% macro blank_to_null(expr) -%}
    nullif(trim(cast({{ expr }} as {{ dbt.type_string() }})), '')
{%- endmacro %}


{# A whole number given as text or number ("2", 2, "2.0" is not) -> integer, anything else -> null. #}
{% macro safe_integer(expr) -%}
    case
        when {{ customer360.regex_matches('trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))', '^[+-]?[0-9]{1,9}$') }}
            then cast(trim(cast({{ expr }} as {{ dbt.type_string() }})) as integer)
    end
{%- endmacro %}
