{#
    is_excluded_identifier(identifier_type, value_expr): true when the normalized identifier is a
    known placeholder (seed identity_exclusions: test@example.com, +15555555555 ...) that must never
    link two records. identifier_type is a literal ('email' or 'phone'); value_expr is the normalized
    value (normalize_email() / normalize_phone_e164() output). Null value -> null.
#}
{% macro is_excluded_identifier(identifier_type, value_expr) -%}
    {{ customer360.seed_contains(
        'identity_exclusions',
        dbt.concat(['identifier_type', "':'", 'identifier_value']),
        dbt.concat(["'" ~ identifier_type ~ ":'", value_expr])
    ) }}
{%- endmacro %}
