with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

block_keys as (
    {{ identity_blocking_keys('records', ['record_id']) }}
),

keyed as (
    -- blocks by a 64-bit hash of (rule, key): integer joins, not long strings (a collision, vanishingly
    -- rare, merges two blocks)
    select
        record_id,
        blocking_rule,
        rule_order,
        hash(rule_order, block_key) as block_id
    from block_keys
),

blocks as (
    select
        rule_order,
        block_id,
        count(*) as block_size
    from keyed
    group by rule_order, block_id
),

rule_budgets as (
    -- each rule may propose var identity_max_pairs_per_record pairs per record it keys: the cost
    -- of a rule then grows with the records, not with their square
    select
        rule_order,
        count(distinct record_id) * {{ var('identity_max_pairs_per_record') }} as pairs_budget
    from keyed
    group by rule_order
),

blocks_accumulated as (
    -- smallest blocks first (the most specific keys); blocks of one size are kept or left together
    select
        rule_order,
        block_size,
        sum(block_size * (block_size - 1) / 2) over (
            partition by rule_order
            order by block_size
            range between unbounded preceding and current row
        ) as cumulative_pairs
    from blocks
),

rule_caps as (
    -- the largest block the rule would compare, learnt from this warehouse's block sizes (at most var
    -- identity_max_block_size); the cap in force is int_identity__match_parameters', frozen between re-learnings
    select
        blocks_accumulated.rule_order,
        coalesce(
            max(blocks_accumulated.block_size) filter (
                where
                blocks_accumulated.cumulative_pairs <= rule_budgets.pairs_budget
                and blocks_accumulated.block_size <= {{ var('identity_max_block_size') }}
            ),
            1
        ) as learnt_block_size_cap
    from blocks_accumulated
    inner join rule_budgets on blocks_accumulated.rule_order = rule_budgets.rule_order
    group by blocks_accumulated.rule_order
),

final as (
    select
        keyed.record_id,
        keyed.blocking_rule,
        keyed.rule_order,
        keyed.block_id,
        blocks.block_size,
        rule_caps.learnt_block_size_cap
    from keyed
    inner join blocks on keyed.rule_order = blocks.rule_order and keyed.block_id = blocks.block_id
    inner join rule_caps on keyed.rule_order = rule_caps.rule_order
)

select * from final
