{%- set learning_is_due = customer360.identity_learning_is_due() %}

with

block_keys as (
    select * from {{ ref('int_identity__block_keys') }}
),

{% if not learning_is_due -%}
    learnt_before as (
        select * from {{ this }}
    ),
{%- endif %}

blocks as (
    select
        rule_order,
        block_id,
        any_value(block_size) as block_size
    from block_keys
    group by rule_order, block_id
),

rule_budgets as (
    -- each rule may propose var identity_max_pairs_per_record pairs per record it keys: the cost
    -- of a rule then grows with the records, not with their square
    select
        rule_order,
        any_value(blocking_rule) as blocking_rule,
        count(distinct record_id) as records_keyed,
        count(distinct record_id) * {{ var('identity_max_pairs_per_record') }} as pairs_budget
    from block_keys
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

learnt as (
    -- the largest block the rule compares, learnt from this warehouse's block sizes (at most var
    -- identity_max_block_size; 1 when no block fits)
    select
        rule_budgets.rule_order,
        rule_budgets.blocking_rule,
        rule_budgets.records_keyed,
        rule_budgets.pairs_budget,
        coalesce(
            max(blocks_accumulated.block_size) filter (
                where
                blocks_accumulated.cumulative_pairs <= rule_budgets.pairs_budget
                and blocks_accumulated.block_size <= {{ var('identity_max_block_size') }}
            ),
            1
        ) as learnt_block_size_cap,
        -- this build's start: int_identity__match_parameters learns only from learners of its own build
        cast('{{ run_started_at }}' as {{ dbt.type_timestamp() }}) as learnt_at
    from rule_budgets
    inner join blocks_accumulated on rule_budgets.rule_order = blocks_accumulated.rule_order
    group by rule_budgets.rule_order, rule_budgets.blocking_rule, rule_budgets.records_keyed, rule_budgets.pairs_budget
),

final as (
    {{ customer360.identity_learnt_or_kept(learning_is_due) }}
)

select * from final
