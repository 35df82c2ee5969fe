{#
    Person names. clean_name() is for display, name_match_key() for matching, canonical_given_name()
    for matching a given name across nicknames (Bill ~ William).
#}

{# clean_name(expr): clean_text() in proper case: "  o'BRIEN   mary-jane " -> "O'Brien Mary-Jane". #}
{% macro clean_name(expr) -%}
    {{ customer360.proper_case(customer360.clean_text(expr)) }}
{%- endmacro %}


{#
    name_match_key(expr): lower case, accents stripped (é->e, ü->u, ø->o, ß->ss), whitespace, punctuation
    and invisible characters (zero-width, bidirectional controls) removed: "O'Brien" -> "obrien", "José  María" -> "josemaria". Letters of other scripts
    are kept. Null when nothing is left.
#}
{% macro name_match_key(expr) -%}
    nullif(
        {{ customer360.regex_replace(
            'lower(' ~ customer360.strip_accents('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')') ~ ')',
            '[[:space:][:punct:]‘’‚‛“”„‐‑‒–—―·•´`\u200c\u200d' ~ customer360.invisible_characters_class()[1:],
            ''
        ) }},
        ''
    )
{%- endmacro %}


{#
    canonical_given_name(expr): the given name's match key with nicknames resolved through seed
    given_name_nicknames ("Bill" -> "william", "Bob" -> "robert"); other names give their own match
    key ("José" -> "jose"). Lower case, meant for matching, not display.
#}
{% macro canonical_given_name(expr) -%}
    {%- set key = customer360.name_match_key(expr) -%}
    coalesce({{ customer360.seed_lookup('given_name_nicknames', 'nickname', 'canonical_given_name', key) }}, {{ key }})
{%- endmacro %}
