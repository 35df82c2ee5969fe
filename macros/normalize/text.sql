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


{#
    fold_look_alike_characters(expr): the characters that look like an address's but are not ASCII read as
    ASCII, and the ones that draw nothing removed, in one portable translate() (PostgreSQL, Snowflake, BigQuery
    and DuckDB delete the characters of the first list past the end of the second). Full-width letters, digits
    and the signs of an address (@ . _ - + % and the colon of mailto:), the small at sign and the ideographic full stops become their ASCII
    characters, the no-break and ideographic spaces plain spaces; the soft hyphen, zero-width characters, bidirectional marks, embeddings, overrides and isolates,
    the word joiner and invisible operators and the byte-order mark are removed (invisible_characters_class's
    characters and the zero-width joiners, which an address never holds). Staging's emails and the consent guard read text through it, so a
    look-alike never makes the two read different addresses (round 21's hostile pass).
#}
{% macro fold_look_alike_characters(expr) -%}
    {#- translate() builds its map on every call (DuckDB: ~2.3 us a value, 9.5 s for 4M addresses), so text that is
        all ASCII, nearly all of it, skips it: one byte per character. The characters are written literally (the
        removed ones are invisible), one SQL literal: a chain of chr() made the SQL too large to parse where the
        email macros repeat it. -#}
    {%- set look_alikes = 'ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ０１２３４５６７８９＠．＿－＋％：﹫。｡ 　' -%}
    {%- set ascii = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-+%:@..  ' -%}
    {%- set removed = '­​‌‍‎‏‪‫‬‭‮⁠⁡⁢⁣⁤⁦⁧⁨⁩﻿' -%}
    case when {{ customer360.is_ascii_text(expr) }} then {{ expr }} else translate({{ expr }}, '{{ look_alikes ~ removed }}', '{{ ascii }}') end
{%- endmacro %}


{#
    is_ascii_text(expr): true when every character of the text is ASCII; null for null. DuckDB: one byte per
    character (strlen against length, ~15x cheaper than a regex); elsewhere a POSIX class.
#}
{% macro is_ascii_text(expr) -%}
    {{ return(adapter.dispatch('is_ascii_text', 'customer360')(expr)) }}
{%- endmacro %}

{% macro duckdb__is_ascii_text(expr) -%}
    strlen({{ expr }}) = length({{ expr }})
{%- endmacro %}

{% macro default__is_ascii_text(expr) -%}
    {{ customer360.regex_matches(expr, '^[[:ascii:]]*$') }}
{%- endmacro %}
