{#
    The comparison levels of the Fellegi-Sunter matcher, in one place: the scored pairs, the EM training
    patterns and the u estimates all call this, so a level means the same thing everywhere.

    Each comparison sorts a pair into one level, most similar first; 'null' when either side lacks the
    value (such a comparison adds no weight, never a negative one). Every other level's weight is
    learnt from the warehouse's records (int_identity__match_weight_estimates); none is a veto.
    Similarities are DuckDB built-ins (jaro_winkler_similarity, damerau_levenshtein) on the match keys
    built by staging and int_identity__source_records. The similarity bands are vars
    (identity_name_similarity_high / _low).
#}

{% macro identity_comparison_names() -%}
    {{ return(['first_name', 'last_name', 'date_of_birth', 'email', 'phone', 'location']) }}
{%- endmacro %}


{% macro identity_comparison_level_names() -%}
    {#- Every level each comparison can produce, most similar first (the EM model and the seed test use it). -#}
    {{ return({
        'first_name': ['exact', 'exact_at_home', 'nickname', 'swapped', 'fuzzy_high', 'fuzzy_low', 'different'],
        'last_name': ['exact', 'exact_at_home', 'fuzzy_high', 'fuzzy_low', 'different'],
        'date_of_birth': ['exact', 'typo', 'same_year', 'different'],
        'email': ['exact', 'same_local_part', 'same_number', 'different'],
        'phone': ['exact', 'exact_at_home', 'different'],
        'location': ['address_exact', 'address_fuzzy', 'postal_code', 'city', 'region', 'different'],
    }) }}
{%- endmacro %}


{% macro identity_date_of_birth_level(l, r) -%}
    case
        when {{ l }}.date_of_birth is null or {{ r }}.date_of_birth is null then 'null'
        when {{ l }}.date_of_birth = {{ r }}.date_of_birth then 'exact'
        when {{ identity_dates_within_a_slip(l ~ '.date_of_birth', r ~ '.date_of_birth') }} then 'typo'
        when year({{ l }}.date_of_birth) = year({{ r }}.date_of_birth) then 'same_year'
        else 'different'
    end
{%- endmacro %}


{% macro identity_dates_within_a_slip(left_date, right_date) -%}
    {#-
        One mistyped or transposed digit, or day and month swapped (05/04 vs 04/05). A slip changes one
        of year, month and day (a transposition across a dash is no date), so the string distance is only
        computed for dates that agree on two of the three: cheap on millions of pairs.
    -#}
    (
        case
            when {{ left_date }} is null or {{ right_date }} is null then null
            when cast(year({{ left_date }}) = year({{ right_date }}) as int)
                + cast(month({{ left_date }}) = month({{ right_date }}) as int)
                + cast(day({{ left_date }}) = day({{ right_date }}) as int) < 2 then false
            else damerau_levenshtein(cast({{ left_date }} as varchar), cast({{ right_date }} as varchar)) <= 1
        end
        or (
            year({{ left_date }}) = year({{ right_date }})
            and month({{ left_date }}) = day({{ right_date }})
            and day({{ left_date }}) = month({{ right_date }})
        )
    )
{%- endmacro %}


{% macro identity_comparison_features(l, r) -%}
    {#-
        Step one of comparing a pair (a select-list over the two records `l` and `r`): each fact the
        levels need, computed once per pair, and each similarity only where a cheaper test leaves the
        level open. Step two, identity_comparison_levels(), turns these columns into levels.
    -#}
    {{ l }}.first_name_key is not null and {{ r }}.first_name_key is not null as has_first_names,
    coalesce({{ l }}.first_name_key = {{ r }}.first_name_key, false) as is_same_first_name,
    coalesce({{ l }}.given_name_canonical = {{ r }}.given_name_canonical, false) as is_same_given_name,
    {{ l }}.last_name_key is not null and {{ r }}.last_name_key is not null as has_last_names,
    coalesce({{ l }}.last_name_key = {{ r }}.last_name_key, false) as is_same_last_name,
    -- First and last name written the other way round (each side's first name ~ the other's last
    -- name), tested only where the first names neither agree nor are nicknames of each other.
    case
        when {{ l }}.first_name_key is null or {{ r }}.first_name_key is null
            or {{ l }}.last_name_key is null or {{ r }}.last_name_key is null
            or {{ l }}.first_name_key = {{ r }}.first_name_key
            or {{ l }}.given_name_canonical = {{ r }}.given_name_canonical
            or {{ l }}.first_name_key = {{ l }}.last_name_key then false
        when jaro_winkler_similarity({{ l }}.first_name_key, {{ r }}.last_name_key)
            < {{ var('identity_name_similarity_high') }} then false
        else jaro_winkler_similarity({{ l }}.last_name_key, {{ r }}.first_name_key)
            >= {{ var('identity_name_similarity_high') }}
    end as is_names_swapped,
    case
        when {{ l }}.first_name_key <> {{ r }}.first_name_key
            and not coalesce({{ l }}.given_name_canonical = {{ r }}.given_name_canonical, false)
            then jaro_winkler_similarity({{ l }}.first_name_key, {{ r }}.first_name_key)
    end as first_name_similarity,
    case
        when {{ l }}.last_name_key <> {{ r }}.last_name_key
            then jaro_winkler_similarity({{ l }}.last_name_key, {{ r }}.last_name_key)
    end as last_name_similarity,
    {{ identity_same_home(l, r) }} as is_same_home,
    {{ identity_date_of_birth_level(l, r) }} as date_of_birth_level,
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
        -- The number is taken once per record (source records' email_local_number): on 21.7M pairs at 1M
        -- people three extractions per pair were 12% of scoring.
        when {{ l }}.email_local_number <> ''
            and {{ l }}.email_local_number = {{ r }}.email_local_number then 'same_number'
        else 'different'
    end as email_level,
    {{ l }}.phone_e164 is not null and {{ r }}.phone_e164 is not null as has_phones,
    coalesce({{ l }}.phone_e164 = {{ r }}.phone_e164, false) as is_same_phone,
    coalesce({{ l }}.address_key, {{ l }}.postal_code, {{ l }}.city_key, {{ l }}.region_code) is not null
    and coalesce({{ r }}.address_key, {{ r }}.postal_code, {{ r }}.city_key, {{ r }}.region_code) is not null
        as has_locations,
    coalesce({{ l }}.address_key = {{ r }}.address_key, false) as is_same_address_key,
    coalesce({{ l }}.postal_code = {{ r }}.postal_code, false) as is_same_postal_code,
    coalesce({{ l }}.city_key = {{ r }}.city_key, false) as is_same_city,
    coalesce({{ l }}.region_code = {{ r }}.region_code, false) as is_same_region
{%- endmacro %}


{% macro identity_comparison_levels() -%}
    {#-
        Step two: the select-list of levels (`<comparison>_level`) over the columns of
        identity_comparison_features, most similar level first.
    -#}
    case
        when not has_first_names then 'null'
        -- At one home a shared first name is rarer among different people than anywhere (household
        -- members are named apart): its u is counted among different people at one home (see last name).
        when is_same_first_name and is_same_home then 'exact_at_home'
        when is_same_first_name then 'exact'
        -- bill / william (seed nicknames)
        when is_same_given_name then 'nickname'
        -- a swap is one level that stands for both names: the last name then compares as unknown
        when is_names_swapped then 'swapped'
        when first_name_similarity < {{ var('identity_name_similarity_low') }} then 'different'
        when first_name_similarity >= {{ var('identity_name_similarity_high') }} then 'fuzzy_high'
        else 'fuzzy_low'
    end as first_name_level,
    case
        when not has_last_names then 'null'
        -- Households share a home and usually a surname: at the same home, a shared surname is an
        -- exact agreement whose u is the chance that two *different people at one home* share it
        -- (counted in int_identity__u_probabilities); m is the exact level's.
        when is_same_last_name and is_same_home then 'exact_at_home'
        when is_same_last_name then 'exact'
        -- first and last name swapped: the first_name comparison's 'swapped' level weighs both names
        when is_names_swapped then 'null'
        when last_name_similarity < {{ var('identity_name_similarity_low') }} then 'different'
        when last_name_similarity >= {{ var('identity_name_similarity_high') }} then 'fuzzy_high'
        else 'fuzzy_low'
    end as last_name_level,
    date_of_birth_level,
    email_level,
    case
        when not has_phones then 'null'
        -- ... and often a landline (same treatment as the surname)
        when is_same_phone and is_same_home then 'exact_at_home'
        when is_same_phone then 'exact'
        else 'different'
    end as phone_level,
    -- Street, postal code, city and region are one comparison, at the most specific level both sides
    -- allow: counted separately they would weigh the same fact (same home) several times. A street line
    -- only counts inside the same postal code or city: the same "12 Main St" exists in many towns.
    case
        when not has_locations then 'null'
        when is_same_address_key and is_same_home then 'address_exact'
        -- a slip in the street name, same house number
        when is_same_home then 'address_fuzzy'
        when is_same_postal_code then 'postal_code'
        when is_same_city then 'city'
        when is_same_region then 'region'
        else 'different'
    end as location_level
{%- endmacro %}


{% macro identity_same_home(l, r) -%}
    {#-
        The two records give the same street line (exactly, or with a slip in the street name but the
        same house number) inside the same postal code or the same city, and no two different secondary
        units (address_unit: apartment, suite ...; null when not given). Cheapest tests first: most
        pairs fail on the postal code and city, and the house number (address_number, taken once per
        record) is compared before the street names' similarity.
    -#}
    (
        (
            coalesce({{ l }}.postal_code = {{ r }}.postal_code, false)
            or coalesce({{ l }}.city_key = {{ r }}.city_key, false)
        )
        and (
            {{ l }}.address_key = {{ r }}.address_key
            or (
                {{ l }}.address_number = {{ r }}.address_number
                and jaro_winkler_similarity({{ l }}.address_key, {{ r }}.address_key) >= 0.90
            )
        )
        -- two different units are two homes in one building; a unit one record omits is no conflict
        and coalesce({{ l }}.address_unit = {{ r }}.address_unit, true)
    )
{%- endmacro %}


{% macro identity_term_frequency_columns() -%}
    {#- Comparisons whose exact level is weighed by how common the value is, and the column compared. -#}
    {{ return({'first_name': 'first_name_key', 'last_name': 'last_name_key'}) }}
{%- endmacro %}
