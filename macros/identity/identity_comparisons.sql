{#
    The comparison levels of the Fellegi-Sunter matcher, in one place: the scored pairs model and the
    m/u estimation model both call this, so a level means the same thing in both.

    Each comparison sorts a pair into one level, most similar first; 'null' when either side lacks the
    value (such a comparison adds no weight). Similarities are DuckDB built-ins (jaro_winkler_similarity,
    damerau_levenshtein) on the match keys built by staging and int_identity__source_records.
#}

{% macro identity_comparison_names() -%}
    {{ return(['first_name', 'last_name', 'date_of_birth', 'email', 'phone', 'location']) }}
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
        -- Households share a home and usually a surname: at the same home a shared surname is weak
        -- evidence, so it is its own level (weights from the seed, see int_identity__match_weights).
        when {{ l }}.last_name_key = {{ r }}.last_name_key and {{ identity_same_home(l, r) }} then 'exact_at_home'
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
        -- A role address (info@, sales@ ...) says nothing about which person it is.
        when {{ l }}.email_match_key is null or {{ r }}.email_match_key is null
            or {{ l }}.is_role_email or {{ r }}.is_role_email then 'null'
        when {{ l }}.email_match_key = {{ r }}.email_match_key then 'exact'
        -- Same mailbox name at another provider.
        when {{ l }}.email_local_part = {{ r }}.email_local_part then 'same_local_part'
        -- Different mailbox names with the same number in them (jsmith1984@ / john.smith1984@): people
        -- reuse a number across their addresses. There is no fuzzy level on the whole local part on
        -- purpose: it is mostly built from the person's name, so its similarity would count the name
        -- agreement a second time; the number is independent of the name.
        when regexp_extract({{ l }}.email_local_part, '[0-9]{3,}') <> ''
            and regexp_extract({{ l }}.email_local_part, '[0-9]{3,}')
            = regexp_extract({{ r }}.email_local_part, '[0-9]{3,}') then 'same_number'
        else 'different'
    end as email_level,
    case
        when {{ l }}.phone_e164 is null or {{ r }}.phone_e164 is null then 'null'
        -- ... and often a landline.
        when {{ l }}.phone_e164 = {{ r }}.phone_e164 and {{ identity_same_home(l, r) }} then 'exact_at_home'
        when {{ l }}.phone_e164 = {{ r }}.phone_e164 then 'exact'
        else 'different'
    end as phone_level,
    -- Street, postal code and city are one comparison, at the most specific level both sides allow:
    -- counted separately they would weigh the same fact (same home) three times. A street line only
    -- counts inside the same postal code (or the same city when a postal code is missing): the same
    -- "12 Main St" exists in many towns.
    case
        when coalesce({{ l }}.address_key, {{ l }}.postal_code, {{ l }}.city_key) is null
            or coalesce({{ r }}.address_key, {{ r }}.postal_code, {{ r }}.city_key) is null then 'null'
        when {{ l }}.address_key = {{ r }}.address_key and {{ identity_same_home(l, r) }} then 'address_exact'
        -- a slip in the street name, same house number
        when {{ identity_same_home(l, r) }} then 'address_fuzzy'
        when {{ l }}.postal_code = {{ r }}.postal_code then 'postal_code'
        when {{ l }}.city_key = {{ r }}.city_key then 'city'
        else 'different'
    end as location_level
{%- endmacro %}


{% macro identity_same_home(l, r) -%}
    {#-
        The two records give the same street line (exactly, or with a slip in the street name but the
        same house number) inside the same postal code, or the same city when a postal code is missing.
    -#}
    (
        (
            {{ l }}.address_key = {{ r }}.address_key
            or (
                jaro_winkler_similarity({{ l }}.address_key, {{ r }}.address_key) >= 0.90
                and regexp_extract({{ l }}.address_key, '[0-9]+') = regexp_extract({{ r }}.address_key, '[0-9]+')
            )
        )
        and coalesce({{ l }}.postal_code = {{ r }}.postal_code, {{ l }}.city_key = {{ r }}.city_key, false)
    )
{%- endmacro %}


{% macro identity_term_frequency_columns() -%}
    {#- Comparisons whose exact level is weighed by how common the value is, and the column compared. -#}
    {{ return({'first_name': 'given_name_canonical', 'last_name': 'last_name_key'}) }}
{%- endmacro %}
