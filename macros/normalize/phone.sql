{#
    normalize_phone_e164(phone_expr, country_iso2_expr): a phone number to E.164 ('+14155550123'), or
    null when it cannot be one. Rules (docs/data_contracts.md, "Phones"):

    * Only digits, spaces and ( ) . / - are allowed, with an optional leading "+": letters
      ("555-CALL-NOW"), extensions ("x12") or other symbols -> null.
    * Written with "+" or "00": it carries its country code. "(0)" after the code (the national trunk
      prefix, "+44 (0)20 ...") is dropped. The code is found in seed phone_numbering_plans (calling
      codes are prefix-free, so at most one of the first 1, 2 or 3 digits matches) and the length is
      checked against the code's main country (+1 -> US, +44 -> GB, +61 -> AU).
    * Otherwise national format: the country is country_iso2_expr, or var('default_phone_country')
      when that is null or blank. The country's trunk prefix (national_prefix: 0 in GB/DE/FR/AU/NL, 1 in
      the US/CA) is dropped when present.
    * The national significant number must have a length in [nsn_min_length, nsn_max_length] of
      its country (US/CA 10, GB 10, DE 10-11, FR/AU/NL 9 per the project convention; libphonenumber's
      lengths elsewhere). NANP numbers (+1) also need area code and exchange starting 2-9.

    country_iso2_expr must already be an ISO2 code (use country_iso2() on a free-text country first).
#}
{% macro normalize_phone_e164(phone_expr, country_iso2_expr=none) -%}
    {%- set default_country = var('default_phone_country', 'US') | upper -%}
    {%- set raw = 'trim(cast(' ~ phone_expr ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    {%- if country_iso2_expr is none -%}
        {%- set country = "'" ~ default_country ~ "'" -%}
    {%- else -%}
        {%- set country = "coalesce(upper(nullif(trim(" ~ country_iso2_expr ~ "), '')), '" ~ default_country ~ "')" -%}
    {%- endif -%}
    {%- set intl_digits = customer360.regex_replace(
        customer360.regex_replace(customer360.regex_replace(raw, '[(]0[)]', ''), '[^0-9]', ''), '^00', ''
    ) -%}
    {%- set national_digits = customer360.regex_replace(raw, '[^0-9]', '') -%}
    case
        when {{ raw }} is null or {{ raw }} = '' then null
        when not {{ customer360.regex_matches(raw, '^[+]?[0-9[:space:]()./-]+$') }} then null
        when {{ customer360.regex_matches(raw, '^([+]|00)') }}
            then {{ customer360.phone_e164_from_international(intl_digits) }}
        else {{ customer360.phone_e164_from_national(national_digits, country) }}
    end
{%- endmacro %}


{% macro phone_e164_from_international(intl_digits) -%}
    {#- The digits after "+" or "00": E.164 when a calling code of 1, 2 or 3 digits fits them, else null. -#}
    {{ return(adapter.dispatch('phone_e164_from_international', 'customer360')(intl_digits)) }}
{%- endmacro %}


{% macro duckdb__phone_e164_from_international(intl_digits) -%}
    {#-
        DuckDB: the primary plan of each calling code as one map (duckdb_seed_map), read inside lambdas so
        that the map and the digits are written once: the compiled SQL stays small. The number is "+" and
        its digits: the calling code is their prefix.
    -#}
    list_transform(
        [
            {{ customer360.duckdb_seed_map(
                ref('phone_numbering_plans'),
                'cast(calling_code as ' ~ dbt.type_string() ~ ')',
                "{'min_length': min(nsn_min_length), 'max_length': max(nsn_max_length)}",
                where='is_primary_for_calling_code and calling_code is not null',
                duplicate_error='seed phone_numbering_plans: more than one primary plan for calling code'
            ) }}
        ],
        lambda c360_plans: list_transform(
            [{{ intl_digits }}],
            lambda c360_digits: coalesce(
                {%- for code_length in [1, 2, 3] %}
                {%- set code = 'substr(c360_digits, 1, ' ~ code_length ~ ')' %}
                case
                    when
                        {{ dbt.length('c360_digits') }} - {{ code_length }}
                        between c360_plans[{{ code }}].min_length and c360_plans[{{ code }}].max_length
                        and (
                            {{ code }} <> '1'
                            or {{ customer360.regex_matches('c360_digits', '^1[2-9][0-9]{2}[2-9]') }}
                        )
                        then {{ dbt.concat(["'+'", code, 'substr(c360_digits, ' ~ (code_length + 1) ~ ')']) }}
                end{{ ',' if not loop.last }}
                {%- endfor %}
            )
        )[1]
    )[1]
{%- endmacro %}


{% macro default__phone_e164_from_international(intl_digits) -%}
    {%- set plans = ref('phone_numbering_plans') -%}
    coalesce(
        {%- for code_length in [1, 2, 3] %}
        (
            {#- The aggregate must reference the subquery's table: max() over outer columns only
                would be an aggregate of the outer query (SQL scoping rule). -#}
            select max({{ dbt.concat([
                "'+'", 'c360_plan.c360_calling_code', 'substr(' ~ intl_digits ~ ', ' ~ (code_length + 1) ~ ')'
            ]) }})
            from (
                select
                    cast(calling_code as {{ dbt.type_string() }}) as c360_calling_code,
                    nsn_min_length as c360_min_length,
                    nsn_max_length as c360_max_length
                from {{ plans }}
                where is_primary_for_calling_code
            ) as c360_plan
            where
                c360_plan.c360_calling_code = substr({{ intl_digits }}, 1, {{ code_length }})
                and {{ dbt.length(intl_digits) }} - {{ code_length }}
                between c360_plan.c360_min_length and c360_plan.c360_max_length
                and (
                    c360_plan.c360_calling_code <> '1'
                    or {{ customer360.regex_matches(intl_digits, '^1[2-9][0-9]{2}[2-9]') }}
                )
        ){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}


{% macro phone_e164_from_national(national_digits, country) -%}
    {#- A national number's digits and its country (ISO2): E.164 when they fit the country's plan, else null. -#}
    {{ return(adapter.dispatch('phone_e164_from_national', 'customer360')(national_digits, country)) }}
{%- endmacro %}


{% macro duckdb__phone_e164_from_national(national_digits, country) -%}
    {#-
        DuckDB: the plans by country as one map (duckdb_seed_map), the country's plan and its national number
        read inside lambdas, each written once.
    -#}
    {%- set plan -%}
        {
            'calling_code': min(cast(calling_code as {{ dbt.type_string() }})),
            'national_prefix': min(nullif(cast(national_prefix as {{ dbt.type_string() }}), '')),
            'min_length': min(nsn_min_length),
            'max_length': max(nsn_max_length)
        }
    {%- endset -%}
    list_transform(
        [
            {{ customer360.duckdb_seed_map(
                ref('phone_numbering_plans'),
                'cast(iso2 as ' ~ dbt.type_string() ~ ')',
                plan,
                where='iso2 is not null',
                duplicate_error='seed phone_numbering_plans: more than one plan for country'
            ) }}[{{ country }}]
        ],
        lambda c360_plan: list_transform(
            [
                {{ customer360.phone_without_trunk_prefix(national_digits, 'c360_plan.national_prefix') }}
            ],
            lambda c360_nsn: case
                when
                    {{ dbt.length('c360_nsn') }} between c360_plan.min_length and c360_plan.max_length
                    and (
                        c360_plan.calling_code <> '1'
                        or {{ customer360.regex_matches('c360_nsn', '^[2-9][0-9]{2}[2-9]') }}
                    )
                    then {{ dbt.concat(["'+'", 'c360_plan.calling_code', 'c360_nsn']) }}
            end
        )[1]
    )[1]
{%- endmacro %}


{% macro default__phone_e164_from_national(national_digits, country) -%}
    {#- The trunk prefix depends on the country, so the national number is built inside. -#}
    {%- set plans = ref('phone_numbering_plans') -%}
    {%- set nsn = customer360.phone_without_trunk_prefix(national_digits, 'c360_plan.c360_national_prefix') %}
    (
        select max({{ dbt.concat(["'+'", 'c360_plan.c360_calling_code', nsn]) }})
        from (
            select
                cast(iso2 as {{ dbt.type_string() }}) as c360_iso2,
                cast(calling_code as {{ dbt.type_string() }}) as c360_calling_code,
                nullif(cast(national_prefix as {{ dbt.type_string() }}), '') as c360_national_prefix,
                nsn_min_length as c360_min_length,
                nsn_max_length as c360_max_length
            from {{ plans }}
        ) as c360_plan
        where
            c360_plan.c360_iso2 = {{ country }}
            and {{ dbt.length(nsn) }} between c360_plan.c360_min_length and c360_plan.c360_max_length
            and (
                c360_plan.c360_calling_code <> '1'
                or {{ customer360.regex_matches(nsn, '^[2-9][0-9]{2}[2-9]') }}
            )
    )
{%- endmacro %}


{# is_valid_e164(expr): '+', a non-zero first digit, 7 to 15 digits in all. #}
{% macro phone_without_trunk_prefix(national_digits, national_prefix) -%}
    {#- The national significant number: the country's trunk prefix (0 in GB, 1 in the US ...) dropped when the
        digits start with it. One rule for both lookup variants. -#}
    case
        when {{ national_prefix }} is not null
            and substr({{ national_digits }}, 1, {{ dbt.length(national_prefix) }}) = {{ national_prefix }}
            then substr({{ national_digits }}, {{ dbt.length(national_prefix) }} + 1)
        else {{ national_digits }}
    end
{%- endmacro %}


{% macro is_valid_e164(expr) -%}
    {{ customer360.regex_matches(expr, '^[+][1-9][0-9]{6,14}$') }}
{%- endmacro %}
