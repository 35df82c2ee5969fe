{#
    Addresses: country and region codes from seeds, postal codes by country rule.
#}

{#
    country_iso2(expr): a free-text country ("United States", "U.S.A.", "deu", " holland ") to its ISO
    3166-1 alpha-2 code through seed country_aliases (case, accents and extra spaces ignored). Null
    when unknown.
#}
{% macro country_iso2(expr) -%}
    {#- The seed lists every alias with and without accents, so the unaccented key finds both. -#}
    {%- set key = customer360.strip_accents('lower(' ~ customer360.clean_text(expr) ~ ')') -%}
    {{ customer360.seed_lookup('country_aliases', 'alias', 'iso2', key) }}
{%- endmacro %}


{#
    region_code(region_expr, country_iso2_expr): a US state / DC or Canadian province / territory, given
    as code ("ny", "N.Y."), ISO 3166-2 code ("US-NY") or name ("new  york", "Québec"), to its postal
    code ("NY", "QC") through seed region_codes. Null for other countries or unknown regions; keep
    clean_text(region) beside it if you need the raw value.
#}
{% macro region_code(region_expr, country_iso2_expr) -%}
    {{ return(adapter.dispatch('region_code', 'customer360')(region_expr, country_iso2_expr)) }}
{%- endmacro %}


{% macro region_code_seed_keys() -%}
    {#- Every way seed region_codes lets a region be written: its code, its name, its ISO 3166-2 code. -#}
    select country_iso2 as c360_country, {{ customer360.name_match_key('region_code') }} as c360_key, region_code as c360_code
    from {{ ref('region_codes') }}
    union all
    select country_iso2, {{ customer360.name_match_key('region_name') }}, region_code
    from {{ ref('region_codes') }}
    union all
    select country_iso2, {{ customer360.name_match_key(dbt.concat(['country_iso2', "'-'", 'region_code'])) }}, region_code
    from {{ ref('region_codes') }}
{%- endmacro %}


{% macro duckdb__region_code(region_expr, country_iso2_expr) -%}
    {#- DuckDB: the seed's keys as one map by (country, key) (duckdb_seed_map). -#}
    {%- set country_and_key -%}
        {'country': cast(c360_country as {{ dbt.type_string() }}), 'key': cast(c360_key as {{ dbt.type_string() }})}
    {%- endset -%}
    {{ customer360.duckdb_seed_map(
        '(' ~ customer360.region_code_seed_keys() ~ ') as c360_keys',
        country_and_key,
        'max(c360_code)',
        where='c360_country is not null and c360_key is not null'
    ) }}[{
        'country': cast(upper(trim({{ country_iso2_expr }})) as {{ dbt.type_string() }}),
        'key': cast({{ customer360.name_match_key(region_expr) }} as {{ dbt.type_string() }})
    }]
{%- endmacro %}


{% macro default__region_code(region_expr, country_iso2_expr) -%}
    {%- set seed_keys -%}
        {{ customer360.region_code_seed_keys() }}
    {%- endset -%}
    (
        select max(c360_region.c360_code)
        from ({{ seed_keys }}) as c360_region
        where
            c360_region.c360_country = upper(trim({{ country_iso2_expr }}))
            and c360_region.c360_key = {{ customer360.name_match_key(region_expr) }}
    )
{%- endmacro %}


{#
    Postal code rules: the code with spaces and hyphens removed must match `pattern`; `format` says how
    to print it. Countries missing here keep their cleaned upper-case value unchecked.
#}
{% macro postal_code_rules() -%}
    {{ return({
        'US': {'pattern': '^[0-9]{5}([0-9]{4})?$', 'format': 'first5'},
        'CA': {'pattern': '^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z][0-9][ABCEGHJ-NPRSTV-Z][0-9]$', 'format': 'split3'},
        'GB': {'pattern': '^([A-Z]{1,2}[0-9][A-Z0-9]?|GIR)[0-9][A-Z]{2}$', 'format': 'inward3'},
        'NL': {'pattern': '^[1-9][0-9]{3}[A-Z]{2}$', 'format': 'split4'},
        'DE': {'pattern': '^[0-9]{5}$', 'format': 'as_is'},
        'FR': {'pattern': '^[0-9]{5}$', 'format': 'as_is'},
        'AU': {'pattern': '^[0-9]{4}$', 'format': 'as_is'},
    }) }}
{%- endmacro %}


{#
    normalize_postal_code(expr, country_iso2_expr): US "94105-1234" -> "94105" (the ZIP+4 extension is
    dropped: it does not identify a person and is often missing), CA "k1a0b1" -> "K1A 0B1",
    GB "sw1a1aa" -> "SW1A 1AA", NL "1234ab" -> "1234 AB", DE/FR 5 digits, AU 4 digits. A value that breaks
    its country's rule -> null (see is_valid_postal_code). Other or unknown countries: clean_text() upper.
#}
{% macro normalize_postal_code(expr, country_iso2_expr) -%}
    {%- set compact = 'upper(' ~ customer360.regex_replace('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')', '[[:space:]-]', '') ~ ')' -%}
    {%- set formats = {
        'first5': 'substr(' ~ compact ~ ', 1, 5)',
        'split3': dbt.concat(['substr(' ~ compact ~ ', 1, 3)', "' '", 'substr(' ~ compact ~ ', 4, 3)']),
        'inward3': dbt.concat([
            'substr(' ~ compact ~ ', 1, ' ~ dbt.length(compact) ~ ' - 3)', "' '", dbt.right(compact, '3')
        ]),
        'split4': dbt.concat(['substr(' ~ compact ~ ', 1, 4)', "' '", 'substr(' ~ compact ~ ', 5, 2)']),
        'as_is': compact,
    } -%}
    case
        when {{ customer360.clean_text(expr) }} is null then null
        {%- for country, rule in customer360.postal_code_rules().items() %}
        when upper(trim({{ country_iso2_expr }})) = '{{ country }}' then
            case when {{ customer360.regex_matches(compact, rule.pattern) }} then {{ formats[rule.format] }} end
        {%- endfor %}
        else upper({{ customer360.clean_text(expr) }})
    end
{%- endmacro %}


{#
    is_valid_postal_code(expr, country_iso2_expr): true when the code passes its country's rule (or the
    country has no rule), false when it breaks it, null when the value is blank.
#}
{% macro is_valid_postal_code(expr, country_iso2_expr) -%}
    case
        when {{ customer360.clean_text(expr) }} is null then null
        else {{ customer360.normalize_postal_code(expr, country_iso2_expr) }} is not null
    end
{%- endmacro %}
