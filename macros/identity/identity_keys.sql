{#
    Small expression macros of the identity layer: each takes SQL expressions and returns one.
#}

{% macro identity_record_key(source_system, source_record_id) -%}
    {#- One text key per source record across systems: `hubspot|1001`, `shopify|order:42`. -#}
    ({{ source_system }} || '|' || {{ source_record_id }})
{%- endmacro %}


{% macro identity_record_id(record_key) -%}
    {#-
        A record's id for joins and label propagation, derived from its key alone, so it is the same in every
        build (an incremental int_identity__source_records keeps the rows it did not redo). On DuckDB a 63-bit
        hash (a BIGINT, the type the id always had); a collision, about 5e-8 at a million records, fails the
        id's unique test.
    -#}
    {{ return(adapter.dispatch('identity_record_id', 'customer360')(record_key)) }}
{%- endmacro %}

{% macro duckdb__identity_record_id(record_key) -%}
    cast(hash({{ record_key }}) >> 1 as bigint)
{%- endmacro %}

{% macro default__identity_record_id(record_key) -%}
    {{ dbt.hash(record_key) }}
{%- endmacro %}


{% macro identity_row_hash(relation) -%}
    {#- A hash of a whole row of relation (its alias in the query): every column, nulls included. -#}
    {{ return(adapter.dispatch('identity_row_hash', 'customer360')(relation)) }}
{%- endmacro %}

{% macro duckdb__identity_row_hash(relation) -%}
    hash({{ relation }})
{%- endmacro %}

{% macro default__identity_row_hash(relation) -%}
    {#- PostgreSQL casts a row to text -#}
    {{ dbt.hash('cast(' ~ relation ~ ' as ' ~ dbt.type_string() ~ ')') }}
{%- endmacro %}


{% macro identity_rows_fingerprint(row_hash) -%}
    {#-
        An aggregate of identity_row_hash values: one value per group that changes when a row of the group is
        added, removed or altered, whatever order the rows come in. On DuckDB their sum (a 128-bit integer);
        elsewhere the md5 of the sorted hashes.
    -#}
    {{ return(adapter.dispatch('identity_rows_fingerprint', 'customer360')(row_hash)) }}
{%- endmacro %}

{% macro duckdb__identity_rows_fingerprint(row_hash) -%}
    sum({{ row_hash }})
{%- endmacro %}

{% macro default__identity_rows_fingerprint(row_hash) -%}
    {{ dbt.hash(customer360.sorted_text_agg(row_hash, "','")) }}
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


{% macro identity_address_line_folded(address_line) -%}
    {#-
        A street line folded for the unit patterns: lower case, ß -> ss, accents out, every run of other
        characters than a-z, 0-9, '#' and '-' one space ('Apt. 4,' -> 'apt 4'; a no-break space too).
    -#}
    trim(regexp_replace(strip_accents(replace(lower({{ address_line }}), 'ß', 'ss')), '[^a-z0-9#-]+', ' ', 'g'))
{%- endmacro %}


{% macro identity_address_unit_patterns() -%}
    {#-
        The three patterns of a secondary unit (apartment, suite, floor ...), over a folded street line.
        A unit is a designator from var identity_address_unit_designators then its identifier: after a
        space, '#' or '-', one that holds a digit or is one letter ('apt 4b', 'suite 27', 'flat b'); written
        on, one that starts with a digit ('flat5', 'apt#4'). So a word that merely starts like a designator
        ('flats', 'buildings', 'bush') is none. Or '#' and an identifier ('# 16').
        - trailing: '374 mission st apt 39'. The street before it must hold a digit (its house number),
          so 'via della scala 3', where the number is the house's, keeps its whole line;
        - leading: 'flat 3 12 high street', the street after it starting with its house number;
        - alone, as a second address line: 'apt 7', '#7', or a bare number of up to 4 digits ('7', '12b').
        House-number suffixes (12 bis, 12a) stay in the street: they name another house.
        Groups: trailing 1 = the street, 2-4 = the identifier; leading 1-2 = the identifier, 3 = the
        street; alone 1-4 = the identifier. 'any' (no groups) matches every line the trailing or leading
        pattern can match, and few others: one test decides whether the extractions run at all (most street
        lines name no unit; the extractions were a fifth of int_identity__source_records at 1M).
    -#}
    {%- set designators = var('identity_address_unit_designators') -%}
    {%- if designators is string or designators is mapping or designators is not iterable
        or designators | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var identity_address_unit_designators must be a non-empty list of lower-case words, not "
            ~ designators
        ) }}
    {%- endif -%}
    {%- for designator in designators -%}
        {%- if designator is not string or not modules.re.fullmatch('[a-z]+', designator) -%}
            {{ exceptions.raise_compiler_error(
                "var identity_address_unit_designators: '" ~ designator ~ "' is not a lower-case word (a-z)"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set identifier = '[a-z0-9-]*[0-9][a-z0-9-]*|[a-z]' -%}
    {%- set unit = '(?:' ~ designators | join('|') ~ ')(?:[ #-]+(' ~ identifier ~ ')|([0-9][a-z0-9-]*))' -%}
    {{ return({
        'any': '#|(?:^| )(?:' ~ designators | join('|') ~ ')(?:[ #-]|[0-9])',
        'trailing': '^(.*[0-9].*?)(?: ' ~ unit ~ '| ?# ?([a-z0-9-]+))$',
        'leading': '^' ~ unit ~ ' ([0-9].*)$',
        'alone': '^(?:' ~ unit ~ '|# ?([a-z0-9-]+)|([0-9]{1,4}[a-z]?))$',
    }) }}
{%- endmacro %}


{% macro identity_address_street(address_line1) -%}
    {#-
        The street line without its secondary unit ('374 Mission St Apt. 39' -> '374 mission st'), folded;
        the whole line when it names no unit. Pass it to identity_address_key.
    -#}
    {%- set patterns = identity_address_unit_patterns() -%}
    {%- set folded = identity_address_line_folded(address_line1) -%}
    case
        when regexp_matches({{ folded }}, '{{ patterns.any }}')
            then coalesce(
                nullif(regexp_extract({{ folded }}, '{{ patterns.trailing }}', 1), ''),
                nullif(regexp_extract({{ folded }}, '{{ patterns.leading }}', 3), ''),
                {{ folded }}
            )
        else {{ folded }}
    end
{%- endmacro %}


{% macro identity_address_unit(address_line1, address_line2) -%}
    {#-
        The secondary unit's identifier, letters and digits only, leading zeros out ('Apt. 04-B' -> '4b'):
        from the street line, else from a second line that holds only a unit. Null when neither names one:
        a missing unit does not disagree with any unit (identity_same_home).
    -#}
    {%- set patterns = identity_address_unit_patterns() -%}
    {%- set line1 = identity_address_line_folded(address_line1) -%}
    {%- set line2 = identity_address_line_folded(address_line2) -%}
    {%- set on_line1 = [] -%}
    {%- for group in [2, 3, 4] -%}
        {%- do on_line1.append(
            "nullif(regexp_extract(" ~ line1 ~ ", '" ~ patterns.trailing ~ "', " ~ group ~ "), '')"
        ) -%}
    {%- endfor -%}
    {%- for group in [1, 2] -%}
        {%- do on_line1.append(
            "nullif(regexp_extract(" ~ line1 ~ ", '" ~ patterns.leading ~ "', " ~ group ~ "), '')"
        ) -%}
    {%- endfor -%}
    {%- set on_line2 = [] -%}
    {%- for group in [1, 2, 3, 4] -%}
        {%- do on_line2.append(
            "nullif(regexp_extract(" ~ line2 ~ ", '" ~ patterns.alone ~ "', " ~ group ~ "), '')"
        ) -%}
    {%- endfor -%}
    nullif(
        regexp_replace(
            regexp_replace(
                coalesce(
                    case
                        when regexp_matches({{ line1 }}, '{{ patterns.any }}')
                            then coalesce({{ on_line1 | join(', ') }})
                    end,
                    case when {{ address_line2 }} is not null then coalesce({{ on_line2 | join(', ') }}) end
                ),
                '[^a-z0-9]', '', 'g'
            ),
            '^0+([0-9])', '\1'
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
