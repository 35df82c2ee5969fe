{#
    What blocking costs and finds, per rule of var identity_blocking_rules: how many records get a key,
    how many blocks were skipped as too large (var identity_max_block_size) and how many records they
    held, how many pairs the rule proposed (after leaving out pairs already in one strong cluster) and
    how many of them no earlier rule had proposed. The sum of pairs_first is the number of pairs scored.
#}

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

proposed as (
    select
        unnest(string_split(blocking_rules, ',')) as blocking_rule,
        blocking_rule as first_rule
    from candidate_pairs
),

pair_counts as (
    select
        blocking_rule,
        count(*) as pairs_proposed,
        count(*) filter (where blocking_rule = first_rule) as pairs_first
    from proposed
    group by blocking_rule
)

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
