{% macro identity_blocking_keys(relation, columns) -%}
    {#-
        One row per (blocking rule, record, key) for var identity_blocking_rules, selecting `columns` of
        `relation` as well. A rule is one key expression, or a list of them: a record then gets a key from
        each (e.g. the date of birth with the first name's initial and with the last name's), and two
        records meet under the rule when they share any one. Null keys are left out; a record that gives
        one key twice counts once.
    -#}
    {%- set rules = var('identity_blocking_rules') %}
    {%- for rule_name, key_expressions in rules.items() %}
        {%- set rule_order = loop.index %}
        {%- set expressions = [key_expressions] if key_expressions is string else key_expressions %}
        select {% if expressions | length > 1 %}distinct {% endif %}* from (
            {%- for key_expression in expressions %}
                select
                    '{{ rule_name }}' as blocking_rule,
                    {{ rule_order }} as rule_order,
                    {%- for column in columns %}
                        {{ column }},
                    {%- endfor %}
                    {{ key_expression }} as block_key
                from {{ relation }}
                {% if not loop.last %}union all{% endif %}
            {%- endfor %}
        ) as keyed
        where block_key is not null
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
