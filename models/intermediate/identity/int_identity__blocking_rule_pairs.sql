{%- set rules = var('identity_blocking_rules') %}

with

block_keys as (
    select * from {{ ref('int_identity__block_keys') }}
),

scored_pairs as (
    select rule_mask from {{ ref('int_identity__scored_pairs') }}
),

parameters as (
    select * from {{ ref('int_identity__match_parameters') }}
),

rules as (
    select
        rule_list.blocking_rule,
        rule_list.rule_order
    from (
        values
        {%- for rule_name in rules.keys() %}
            ('{{ rule_name }}', {{ loop.index }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as rule_list (blocking_rule, rule_order)
),

compared_blocks as (
    -- as int_identity__scored_pairs compares them
    {{ customer360.identity_compared_blocks('block_keys', 'parameters') }}
),

blocks as (
    select
        rule_order,
        block_id,
        any_value(block_size) as block_size,
        any_value(block_size_cap) as block_size_cap,
        any_value(is_compared) as is_compared
    from compared_blocks
    group by rule_order, block_id
),

records_keyed as (
    select
        rule_order,
        count(distinct record_id) as records_keyed,
        count(distinct record_id) filter (where not is_compared) as records_in_skipped_blocks
    from compared_blocks
    group by rule_order
),

block_stats as (
    select
        rule_order,
        any_value(block_size_cap) as block_size_cap,
        count(*) filter (where not is_compared) as blocks_skipped,
        count(*) filter (where block_size > {{ var('identity_max_block_size') }}) as blocks_over_max_size
    from blocks
    group by rule_order
),

mask_counts as (
    -- each rule is one bit of rule_mask; the first rule is the lowest bit set
    select
        {%- for rule_name in rules.keys() %}
            {%- set bit = 2 ** (loop.index - 1) %}
            count(*) filter (where rule_mask & {{ bit }} <> 0) as proposed_{{ loop.index }},
            count(*) filter (where rule_mask & {{ 2 * bit - 1 }} = {{ bit }}) as first_{{ loop.index }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from scored_pairs
),

pair_counts as (
    {%- for rule_name in rules.keys() %}
        select
            '{{ rule_name }}' as blocking_rule,
            proposed_{{ loop.index }} as pairs_proposed,
            first_{{ loop.index }} as pairs_first
        from mask_counts
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

final as (
    select
        rules.blocking_rule,
        rules.rule_order,
        coalesce(records_keyed.records_keyed, 0) as records_keyed,
        block_stats.block_size_cap,
        coalesce(block_stats.blocks_skipped, 0) as blocks_skipped,
        coalesce(block_stats.blocks_over_max_size, 0) as blocks_over_max_size,
        coalesce(records_keyed.records_in_skipped_blocks, 0) as records_in_skipped_blocks,
        coalesce(pair_counts.pairs_proposed, 0) as pairs_proposed,
        coalesce(pair_counts.pairs_first, 0) as pairs_first
    from rules
    left join records_keyed on rules.rule_order = records_keyed.rule_order
    left join block_stats on rules.rule_order = block_stats.rule_order
    left join pair_counts on rules.blocking_rule = pair_counts.blocking_rule
)

select * from final
