{#
    The comparison levels of the Fellegi-Sunter matcher, in one place: the scored pairs model and the
    m/u estimation model both call this, so a level means the same thing in both.

    Each comparison sorts a pair into one level, most similar first; 'null' when either side lacks the
    value (such a comparison adds no weight). Similarities are DuckDB built-ins (jaro_winkler_similarity,
    damerau_levenshtein) on the match keys built by staging and int_identity__source_records.
#}

{% macro identity_comparison_names() -%}
    {{ return(['first_name', 'last_name', 'date_of_birth', 'email', 'phone', 'address', 'postal_code', 'city']) }}
{%- endmacro %}


{% macro identity_comparison_levels(l, r) -%}
    case
        when {{ l }}.first_name_key is null or {{ r }}.first_name_key is null then 'null'
        when {{ l }}.given_name_canonical = {{ r }}.given_name_canonical then 'exact'
        when jaro_winkler_similarity({{ l }}.first_name_key, {{ r }}.first_name_key) >= 0.92 then 'fuzzy_high'
        when jaro_winkler_similarity({{ l }}.first_name_key, {{ r }}.first_name_key) >= 0.80 then 'fuzzy_low'
        else 'different'
    end as first_name_level,
    case
        when {{ l }}.last_name_key is null or {{ r }}.last_name_key is null then 'null'
        when {{ l }}.last_name_key = {{ r }}.last_name_key then 'exact'
        when jaro_winkler_similarity({{ l }}.last_name_key, {{ r }}.last_name_key) >= 0.92 then 'fuzzy_high'
        when jaro_winkler_similarity({{ l }}.last_name_key, {{ r }}.last_name_key) >= 0.80 then 'fuzzy_low'
        else 'different'
    end as last_name_level,
    case
        when {{ l }}.date_of_birth is null or {{ r }}.date_of_birth is null then 'null'
        when {{ l }}.date_of_birth = {{ r }}.date_of_birth then 'exact'
        -- one mistyped digit, or day and month swapped (05/04 vs 04/05)
        when damerau_levenshtein(cast({{ l }}.date_of_birth as varchar), cast({{ r }}.date_of_birth as varchar)) <= 1
            or (
                year({{ l }}.date_of_birth) = year({{ r }}.date_of_birth)
                and month({{ l }}.date_of_birth) = day({{ r }}.date_of_birth)
                and day({{ l }}.date_of_birth) = month({{ r }}.date_of_birth)
            )
            then 'typo'
        else 'different'
    end as date_of_birth_level,
    case
        when {{ l }}.email_match_key is null or {{ r }}.email_match_key is null then 'null'
        when {{ l }}.email_match_key = {{ r }}.email_match_key then 'exact'
        when {{ l }}.email_local_part = {{ r }}.email_local_part then 'same_local_part'
        when jaro_winkler_similarity({{ l }}.email_local_part, {{ r }}.email_local_part) >= 0.88 then 'fuzzy'
        else 'different'
    end as email_level,
    case
        when {{ l }}.phone_e164 is null or {{ r }}.phone_e164 is null then 'null'
        when {{ l }}.phone_e164 = {{ r }}.phone_e164 then 'exact'
        else 'different'
    end as phone_level,
    case
        when {{ l }}.address_key is null or {{ r }}.address_key is null then 'null'
        when {{ l }}.address_key = {{ r }}.address_key then 'exact'
        when jaro_winkler_similarity({{ l }}.address_key, {{ r }}.address_key) >= 0.90 then 'fuzzy'
        else 'different'
    end as address_level,
    case
        when {{ l }}.postal_code is null or {{ r }}.postal_code is null then 'null'
        when {{ l }}.postal_code = {{ r }}.postal_code then 'exact'
        else 'different'
    end as postal_code_level,
    case
        when {{ l }}.city_key is null or {{ r }}.city_key is null then 'null'
        when {{ l }}.city_key = {{ r }}.city_key then 'exact'
        when jaro_winkler_similarity({{ l }}.city_key, {{ r }}.city_key) >= 0.90 then 'fuzzy'
        else 'different'
    end as city_level
{%- endmacro %}


{% macro identity_term_frequency_columns() -%}
    {#- Comparisons whose exact level is adjusted by how common the value is, and the value compared. -#}
    {{ return({'first_name': 'given_name_canonical', 'last_name': 'last_name_key', 'city': 'city_key'}) }}
{%- endmacro %}
