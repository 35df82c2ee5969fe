{#
    Letters that have no Unicode decomposition, so NFD-based accent stripping leaves them alone, and
    the multi-letter ones (ß -> ss) that translate() cannot express. Shared by every engine.
#}
{% macro _unaccent_multi_letter() -%}
    {{ return({'ß': 'ss', 'ẞ': 'SS', 'æ': 'ae', 'Æ': 'AE', 'œ': 'oe', 'Œ': 'OE', 'þ': 'th', 'Þ': 'TH'}) }}
{%- endmacro %}

{% macro _unaccent_single_letter() -%}
    {{ return({
        'ø': 'o', 'Ø': 'O', 'ł': 'l', 'Ł': 'L', 'đ': 'd', 'Đ': 'D', 'ð': 'd', 'Ð': 'D', 'ı': 'i', 'ħ': 'h', 'Ħ': 'H'
    }) }}
{%- endmacro %}

{# Decomposable Latin letters, for engines without an accent-stripping function. #}
{% macro _unaccent_decomposable() -%}
    {{ return({
        'à': 'a', 'á': 'a', 'â': 'a', 'ã': 'a', 'ä': 'a', 'å': 'a', 'ā': 'a', 'ă': 'a', 'ą': 'a',
        'À': 'A', 'Á': 'A', 'Â': 'A', 'Ã': 'A', 'Ä': 'A', 'Å': 'A', 'Ā': 'A', 'Ă': 'A', 'Ą': 'A',
        'ç': 'c', 'ć': 'c', 'č': 'c', 'ĉ': 'c', 'ċ': 'c', 'Ç': 'C', 'Ć': 'C', 'Č': 'C', 'Ĉ': 'C', 'Ċ': 'C',
        'ď': 'd', 'Ď': 'D',
        'è': 'e', 'é': 'e', 'ê': 'e', 'ë': 'e', 'ē': 'e', 'ĕ': 'e', 'ė': 'e', 'ę': 'e', 'ě': 'e',
        'È': 'E', 'É': 'E', 'Ê': 'E', 'Ë': 'E', 'Ē': 'E', 'Ĕ': 'E', 'Ė': 'E', 'Ę': 'E', 'Ě': 'E',
        'ğ': 'g', 'ĝ': 'g', 'ġ': 'g', 'ģ': 'g', 'Ğ': 'G', 'Ĝ': 'G', 'Ġ': 'G', 'Ģ': 'G',
        'ì': 'i', 'í': 'i', 'î': 'i', 'ï': 'i', 'ĩ': 'i', 'ī': 'i', 'į': 'i', 'İ': 'I',
        'Ì': 'I', 'Í': 'I', 'Î': 'I', 'Ï': 'I', 'Ĩ': 'I', 'Ī': 'I', 'Į': 'I',
        'ķ': 'k', 'Ķ': 'K', 'ĺ': 'l', 'ļ': 'l', 'ľ': 'l', 'Ĺ': 'L', 'Ļ': 'L', 'Ľ': 'L',
        'ñ': 'n', 'ń': 'n', 'ņ': 'n', 'ň': 'n', 'Ñ': 'N', 'Ń': 'N', 'Ņ': 'N', 'Ň': 'N',
        'ò': 'o', 'ó': 'o', 'ô': 'o', 'õ': 'o', 'ö': 'o', 'ō': 'o', 'ő': 'o',
        'Ò': 'O', 'Ó': 'O', 'Ô': 'O', 'Õ': 'O', 'Ö': 'O', 'Ō': 'O', 'Ő': 'O',
        'ŕ': 'r', 'ř': 'r', 'Ŕ': 'R', 'Ř': 'R',
        'ś': 's', 'ŝ': 's', 'ş': 's', 'š': 's', 'ș': 's', 'Ś': 'S', 'Ŝ': 'S', 'Ş': 'S', 'Š': 'S', 'Ș': 'S',
        'ţ': 't', 'ť': 't', 'ț': 't', 'Ţ': 'T', 'Ť': 'T', 'Ț': 'T',
        'ù': 'u', 'ú': 'u', 'û': 'u', 'ü': 'u', 'ũ': 'u', 'ū': 'u', 'ŭ': 'u', 'ů': 'u', 'ű': 'u', 'ų': 'u',
        'Ù': 'U', 'Ú': 'U', 'Û': 'U', 'Ü': 'U', 'Ũ': 'U', 'Ū': 'U', 'Ŭ': 'U', 'Ů': 'U', 'Ű': 'U', 'Ų': 'U',
        'ŵ': 'w', 'Ŵ': 'W', 'ý': 'y', 'ÿ': 'y', 'ŷ': 'y', 'Ý': 'Y', 'Ÿ': 'Y', 'Ŷ': 'Y',
        'ź': 'z', 'ż': 'z', 'ž': 'z', 'Ź': 'Z', 'Ż': 'Z', 'Ž': 'Z'
    }) }}
{%- endmacro %}

{% macro _translate_letters(expr, mapping) -%}
    translate({{ expr }}, '{{ mapping.keys() | join }}', '{{ mapping.values() | join }}')
{%- endmacro %}

{% macro _replace_letters(expr, mapping) -%}
    {%- set ns = namespace(sql=expr) -%}
    {%- for letter, replacement in mapping.items() -%}
        {%- set ns.sql = "replace(" ~ ns.sql ~ ", '" ~ letter ~ "', '" ~ replacement ~ "')" -%}
    {%- endfor -%}
    {{ ns.sql }}
{%- endmacro %}


{#
    strip_accents(expr): 'José Ødegård Straße' -> 'Jose Odegard Strasse'. Case is preserved.
#}
{% macro strip_accents(expr) -%}
    {{ return(adapter.dispatch('strip_accents', 'customer360')(expr)) }}
{%- endmacro %}

{% macro duckdb__strip_accents(expr) -%}
    {{ customer360._replace_letters(
        customer360._translate_letters('strip_accents(' ~ expr ~ ')', customer360._unaccent_single_letter()),
        customer360._unaccent_multi_letter()
    ) }}
{%- endmacro %}

{#
    ANSI/PostgreSQL: translate() over the common Latin letters (PostgreSQL's unaccent extension is
    better but must be installed by a superuser; override with postgres__strip_accents if you have it).
#}
{% macro default__strip_accents(expr) -%}
    {%- set single = {} -%}
    {%- do single.update(customer360._unaccent_decomposable()) -%}
    {%- do single.update(customer360._unaccent_single_letter()) -%}
    {{ customer360._replace_letters(customer360._translate_letters(expr, single), customer360._unaccent_multi_letter()) }}
{%- endmacro %}


{#
    proper_case(expr): upper-case the first letter of each word and after a hyphen, apostrophe,
    period, slash or parenthesis; lower-case the rest. "o'BRIEN mary-jane" -> "O'Brien Mary-Jane".
    "MCDONALD" -> "Mcdonald" (no surname rules). Plain DuckDB SQL: DuckDB has no initcap(), so the text
    is split into alternating word / separator tokens and each token capitalized (a separator is
    unchanged by upper()): one regex and a lambda per token, ~12x faster than a lambda per character.
#}
{% macro proper_case(expr) -%}
    array_to_string(
        list_transform(
            regexp_extract_all({{ expr }}, '[^ ''’./(-]+|[ ''’./(-]+'),
            lambda token: upper(left(token, 1)) || lower(substr(token, 2))
        ),
        ''
    )
{%- endmacro %}
