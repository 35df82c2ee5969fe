{#
    Free text (address lines, cities, company names ...).
#}

{# clean_text(expr): trim, collapse runs of whitespace (tabs, newlines) to one space; blank -> null. #}
{% macro clean_text(expr) -%}
    nullif(trim({{ customer360.regex_replace('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')', '[[:space:]]+', ' ') }}), '')
{%- endmacro %}
