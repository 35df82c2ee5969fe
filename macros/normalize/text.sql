{#
    Free text (address lines, cities, company names ...).
#}

{#
    clean_text(expr): invisible characters removed (invisible_characters_class), trim, runs of whitespace (tabs,
    newlines) collapsed to one space; blank -> null.
#}
{% macro clean_text(expr) -%}
    {%- set visible = customer360.regex_replace(
        'cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')', customer360.invisible_characters_class(), ''
    ) -%}
    nullif(trim({{ customer360.regex_replace(visible, '[[:space:]]+', ' ') }}), '')
{%- endmacro %}


{#
    invisible_characters_class(): a regex class of the characters that draw nothing yet change text: soft hyphen,
    zero-width space, bidirectional marks, embeddings, overrides and isolates (U+202E turns the rest of a line
    around in an email greeting), word joiners, the byte-order mark. Not the zero-width (non-)joiners U+200C/D,
    which Persian and Indic names and emoji need to display right (name_match_key drops them too). Written as
    escapes here; Jinja turns them into the characters themselves, a class RE2 and PostgreSQL both read.
#}
{% macro invisible_characters_class() -%}
    {{ return('[\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]') }}
{%- endmacro %}
