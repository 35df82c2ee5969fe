{#
    to_money(expr): a decimal string ("19.99", "-5", " 0.5 ") or number to decimal(18,2); anything else
    (blank, "12,50", "1e3", "$5", more than 16 integer digits) -> null. More than 2 decimals are rounded
    by the cast. The pattern check makes it safe on engines whose safe_cast is a plain cast.
#}
{% macro to_money(expr) -%}
    {%- set text = 'trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    case
        when {{ customer360.regex_matches(text, '^[+-]?([0-9]{1,16}([.][0-9]*)?|[.][0-9]+)$') }}
            then {{ dbt.safe_cast(text, 'decimal(18, 2)') }}
    end
{%- endmacro %}


{# currency_code(expr): " usd " -> "USD" when it is an ISO 4217 code in seed currencies, else null. #}
{% macro currency_code(expr) -%}
    {%- set code = 'upper(trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')))' -%}
    {{ customer360.seed_lookup('currencies', 'code', 'code', code) }}
{%- endmacro %}
