{#
    Small expression macros of the identity layer: each takes SQL expressions and returns one.
#}

{% macro identity_record_key(source_system, source_record_id) -%}
    {#- One text key per source record across systems: `hubspot|1001`, `shopify|order:42`. -#}
    ({{ source_system }} || '|' || {{ source_record_id }})
{%- endmacro %}


{% macro identity_phonetic_key(name_key) -%}
    {#-
        American Soundex of a name match key (lower-case a-z): the first letter plus three digits for
        the consonant groups that follow, so Smith/Smyth/Smithe all give s530. Used as a blocking key,
        so one-letter surname typos still meet their partner. Steps: map letters to digit groups
        (vowels and y to 0 as separators, h and w dropped), collapse runs of the same digit, keep the
        first letter, drop the separators, pad to 3 digits.
    -#}
    {%- set coded = "translate(" ~ name_key ~ ", 'aeiouybfpvcgjkqsxzdtlmnrhw', '000000111122222222334556')" -%}
    {%- set collapsed = coded -%}
    {%- for digit in range(7) -%}
        {%- set collapsed = "regexp_replace(" ~ collapsed ~ ", '" ~ digit ~ "+', '" ~ digit ~ "', 'g')" -%}
    {%- endfor -%}
    case
        when {{ name_key }} is null or {{ name_key }} = '' then null
        else left({{ name_key }}, 1) || left(replace(substr({{ collapsed }}, 2), '0', '') || '000', 3)
    end
{%- endmacro %}


{% macro identity_address_key(address_line) -%}
    {#-
        Street line match key: lower case, punctuation out, spaces collapsed, and the usual street-type
        words shortened (Street -> st), so '12 Main Street' and '12 main st.' compare equal.
    -#}
    nullif(
        trim(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        regexp_replace(
                            regexp_replace(
                                regexp_replace(
                                    regexp_replace(
                                        regexp_replace(strip_accents(replace(lower({{ address_line }}), 'ß', 'ss')), '[^a-z0-9 ]', ' ', 'g'),
                                        '\bstreet\b', 'st', 'g'),
                                    '\bavenue\b', 'ave', 'g'),
                                '\broad\b', 'rd', 'g'),
                            '\bdrive\b', 'dr', 'g'),
                        '\blane\b', 'ln', 'g'),
                    '\bboulevard\b', 'blvd', 'g'),
                '\s+', ' ', 'g')
        ),
        ''
    )
{%- endmacro %}


{% macro identity_names_compatible(left, right) -%}
    {#-
        True unless the two records clearly name different people: first names agree (same canonical
        given name, or Jaro-Winkler >= var identity_name_agreement_min on the match keys), and so do
        last names. A missing name does not disagree.
    -#}
    (
        (
            {{ left }}.first_name_key is null or {{ right }}.first_name_key is null
            or {{ left }}.given_name_canonical = {{ right }}.given_name_canonical
            or jaro_winkler_similarity({{ left }}.first_name_key, {{ right }}.first_name_key)
            >= {{ var('identity_name_agreement_min') }}
        )
        and (
            {{ left }}.last_name_key is null or {{ right }}.last_name_key is null
            or jaro_winkler_similarity({{ left }}.last_name_key, {{ right }}.last_name_key)
            >= {{ var('identity_name_agreement_min') }}
        )
    )
{%- endmacro %}
