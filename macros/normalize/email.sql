{#
    Email normalization (conventions in docs/data_contracts.md and macros/_macros.yml).

    Every macro takes a SQL expression and returns one. They apply clean_email() themselves, so they
    accept raw or already-normalized addresses; for speed pass the normalized column when you have it.
#}

{#
    Look-alike characters read as ASCII and invisible ones removed (fold_look_alike_characters: the consent guard
    reads an unsubscribe's address the same way), NUL bytes and the loaders' literal \x00 removed, trim,
    lower-case, drop a leading "mailto:". Blank -> null. No domain correction.
#}
{% macro clean_email(expr) -%}
    {%- set folded = customer360.fold_look_alike_characters('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')') -%}
    {#- a NUL byte, and the literal \x00 the loaders write for one, are removed as the guard removes them -#}
    {%- set without_nul = "replace(replace(" ~ folded ~ ", chr(0), ''), '\\x00', '')" -%}
    nullif(trim({{ customer360.regex_replace('lower(trim(' ~ without_nul ~ '))', '^mailto:', '') }}), '')
{%- endmacro %}


{% macro email_local_part(expr) -%}
    {%- set email = customer360.clean_email(expr) -%}
    case when {{ dbt.position("'@'", email) }} > 0 then nullif({{ dbt.split_part(email, "'@'", 1) }}, '') end
{%- endmacro %}


{% macro email_domain(expr) -%}
    {%- set email = customer360.clean_email(expr) -%}
    case when {{ dbt.position("'@'", email) }} > 0 then nullif({{ dbt.split_part(email, "'@'", 2) }}, '') end
{%- endmacro %}


{#
    normalize_email(expr): clean_email() plus the domain typo fix from seed email_domain_corrections
    (gmial.com -> gmail.com). Only an address with exactly one "@" is corrected: rewriting the domain of a
    malformed address could make it look valid. Plus-tags are kept (they are part of the address).
#}
{% macro normalize_email(expr) -%}
    {%- set email = customer360.clean_email(expr) -%}
    {%- set domain = dbt.split_part(email, "'@'", 2) -%}
    case
        when {{ dbt.length(email) }} - {{ dbt.length(dbt.replace(email, "'@'", "''")) }} = 1
            then {{ dbt.concat([
                dbt.split_part(email, "'@'", 1),
                "'@'",
                "coalesce(" ~ customer360.seed_lookup('email_domain_corrections', 'typo_domain', 'corrected_domain', domain) ~ ", " ~ domain ~ ")"
            ]) }}
        else {{ email }}
    end
{%- endmacro %}


{#
    is_valid_email(expr): syntax only. One "@", a non-empty local part without spaces, a domain of
    non-empty dot-separated labels ending in a TLD of 2+ letters. Null in -> null out.
#}
{% macro is_valid_email(expr) -%}
    {{ customer360.is_valid_clean_email(customer360.clean_email(expr)) }}
{%- endmacro %}


{# is_valid_clean_email(expr): is_valid_email for a value clean_email() already cleaned (no second cleaning). #}
{% macro is_valid_clean_email(expr) -%}
    {{ customer360.regex_matches(expr, '^[^@[:space:]]+@([^@[:space:].]+[.])+[A-Za-z]{2,}$') }}
{%- endmacro %}


{#
    email_match_key(expr): the identity layer's email identifier. The normalized address with the
    plus-tag removed (jane+shop@x.com -> jane@x.com); for gmail.com / googlemail.com also the dots of
    the local part removed and the domain unified to gmail.com (Gmail ignores both). Null when the
    address is not valid, so a malformed value never links two records. Pass normalize_email() output.
#}
{% macro email_match_key(expr) -%}
    {%- set email = customer360.clean_email(expr) -%}
    {%- set local_part = customer360.regex_replace(dbt.split_part(email, "'@'", 1), '[+].*$', '') -%}
    {%- set domain = dbt.split_part(email, "'@'", 2) -%}
    case
        when not {{ customer360.is_valid_clean_email(email) }} then null
        when {{ domain }} in ('gmail.com', 'googlemail.com')
            then {{ dbt.concat([dbt.replace(local_part, "'.'", "''"), "'@gmail.com'"]) }}
        else {{ dbt.concat([local_part, "'@'", domain]) }}
    end
{%- endmacro %}


{# is_role_email(expr): the local part (plus-tag ignored) is in seed role_email_local_parts. #}
{% macro is_role_email(expr) -%}
    {%- set local_part = customer360.regex_replace(customer360.email_local_part(expr), '[+].*$', '') -%}
    {{ customer360.seed_contains('role_email_local_parts', 'local_part', local_part) }}
{%- endmacro %}


{# is_free_email_domain(expr): the domain is a consumer mailbox provider (seed free_email_domains). #}
{% macro is_free_email_domain(expr) -%}
    {{ customer360.seed_contains('free_email_domains', 'domain', customer360.email_domain(expr)) }}
{%- endmacro %}
