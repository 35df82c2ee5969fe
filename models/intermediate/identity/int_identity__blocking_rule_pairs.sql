{%- set rules = var('identity_blocking_rules') %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

candidate_pairs as (
    select * from {{ ref('int_identity__candidate_pairs') }}
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

block_keys as (
    {{ identity_blocking_keys('records', ['record_id']) }}
),

blocks as (
    select
        blocking_rule,
        rule_order,
        block_key,
        count(*) as block_size
    from block_keys
    group by blocking_rule, rule_order, block_key
),

records_keyed as (
    select
        blocking_rule,
        count(distinct record_id) as records_keyed
    from block_keys
    group by blocking_rule
),

block_stats as (
    select
        blocking_rule,
        rule_order,
        count(*) filter (where block_size > {{ var('identity_max_block_size') }}) as blocks_skipped,
        coalesce(sum(block_size) filter (where block_size > {{ var('identity_max_block_size') }}), 0)
            as records_in_skipped_blocks
    from blocks
    group by blocking_rule, rule_order
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
    from candidate_pairs
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
        coalesce(block_stats.blocks_skipped, 0) as blocks_skipped,
        coalesce(block_stats.records_in_skipped_blocks, 0) as records_in_skipped_blocks,
        coalesce(pair_counts.pairs_proposed, 0) as pairs_proposed,
        coalesce(pair_counts.pairs_first, 0) as pairs_first
    from rules
    left join records_keyed on rules.blocking_rule = records_keyed.blocking_rule
    left join block_stats on rules.blocking_rule = block_stats.blocking_rule
    left join pair_counts on rules.blocking_rule = pair_counts.blocking_rule
)

select * from final
