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


{% macro identity_compared_blocks(block_keys, parameters) -%}
    {#-
        A select of each record's blocks (relation block_keys: int_identity__block_keys) with the block size cap in
        force (relation parameters: int_identity__match_parameters) and whether the block is compared under it. A
        rule without a cap in force keyed no record when the parameters were learnt: its blocks wait for the next
        learning. One rule for int_identity__scored_pairs and int_identity__blocking_rule_pairs.
    -#}
    select
        keyed.record_id,
        keyed.rule_order,
        keyed.block_id,
        keyed.block_size,
        caps.block_size_cap,
        keyed.block_size <= coalesce(caps.block_size_cap, 1) as is_compared
    from {{ block_keys }} as keyed
    left join {{ parameters }} as caps
        on
            caps.parameter_kind = 'block_size_cap'
            and keyed.rule_order = caps.rule_order
{%- endmacro %}
